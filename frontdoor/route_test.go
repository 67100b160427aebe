package frontdoor

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	videov1alpha1 "github.com/sprechzimmer/sprechzimmer/api/v1alpha1"
	"github.com/sprechzimmer/sprechzimmer/internal/roomcontract"
)

const testID = "0f6b1a52-3c1d-4e5f-9a8b-7c6d5e4f3a2b"

func TestParseRoomPath(t *testing.T) {
	tests := []struct {
		path   string
		want   roomPath
		wantOK bool
	}{
		{"/r/" + testID + "/", roomPath{id: testID, rest: "/"}, true},
		{"/r/" + testID, roomPath{id: testID}, true},
		{"/r/" + testID + "/ws", roomPath{id: testID, rest: "/ws"}, true},
		{"/r/" + testID + "/a/b.js", roomPath{id: testID, rest: "/a/b.js"}, true},
		{"/r/" + testID + "/dir/", roomPath{id: testID, rest: "/dir/"}, true},
		{"/r/" + testID + "/metrics", roomPath{}, false},
		{"/r/" + testID + "/healthz", roomPath{}, false},
		{"/r/" + testID + "/./x", roomPath{}, false},
		{"/r/" + testID + "/x/..", roomPath{}, false},
		{"/r/" + testID + "//x", roomPath{}, false},
		{"/r/0F6B1A52-3C1D-4E5F-9A8B-7C6D5E4F3A2B/", roomPath{}, false},
		{"/r/0f6b1a52x3c1d-4e5f-9a8b-7c6d5e4f3a2b/", roomPath{}, false},
		{"/r/0f6b1a52-3c1d-4e5f-9a8b-7c6d5e4f3a2/", roomPath{}, false},
		{"/r/", roomPath{}, false},
		{"/r", roomPath{}, false},
		{"/", roomPath{}, false},
		{"/x/" + testID + "/", roomPath{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, ok := parseRoomPath(tt.path)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("parseRoomPath(%q) = %+v, %v; want %+v, %v", tt.path, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// TestUpstream checks the URL made of an open room's Service; which
// Services are open rooms is roomcontract's TestCheckService, and which of
// them the front door routes to is TestLookAlikeServicesAreIgnored.
func TestUpstream(t *testing.T) {
	svc := roomcontract.NewService(&videov1alpha1.VideoSession{
		ObjectMeta: metav1.ObjectMeta{Name: "appt-42", Namespace: "praxis-a", UID: types.UID(testID)},
	}, time.Now().Add(time.Hour))
	tests := []struct {
		name   string
		port   int32
		domain string
		want   string
	}{
		{"operator's port", roomcontract.Port, "cluster.local", "http://appt-42-room.praxis-a.svc.cluster.local:8080"},
		{"other cluster domain", roomcontract.Port, "k8s.example.org", "http://appt-42-room.praxis-a.svc.k8s.example.org:8080"},
		{"other port", 81, "cluster.local", "http://appt-42-room.praxis-a.svc.cluster.local:81"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := upstream(svc, tt.port, tt.domain).String(); got != tt.want {
				t.Errorf("upstream = %q, want %q", got, tt.want)
			}
		})
	}
}
