package frontdoor_test

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	videov1alpha1 "github.com/sprechzimmer/sprechzimmer/api/v1alpha1"
	"github.com/sprechzimmer/sprechzimmer/frontdoor"
	"github.com/sprechzimmer/sprechzimmer/internal/manifests"
	"github.com/sprechzimmer/sprechzimmer/internal/roomcontract"
	"github.com/sprechzimmer/sprechzimmer/internal/testenv"
)

// TestLookAlikeServicesAreIgnored surrounds an open room with Services that
// copy what the front door routes by (the room label, the owner reference
// with the room's UID) and points each at a decoy server: the real room
// keeps answering, a room that is not open yet stays a 404, no decoy gets
// a request, and each decoy is counted once under its reason.
func TestLookAlikeServicesAreIgnored(t *testing.T) {
	d := startDoor(t)
	id, real, b := d.openRoom("anna")
	// A session whose room is not open yet: it has no Service of its own.
	scheduled := createSession(t, d.ns, "bert")
	scheduledID := string(scheduled.UID)
	// A session of the same name as the open room's, in the other namespace.
	createSession(t, d.otherNS, "anna")
	unknownID := uuidLike()
	decoy := startBackend(t)

	// copyOf is real in namespace ns, renamed, for room roomID.
	copyOf := func(ns, name, roomID string) *corev1.Service {
		svc := real.DeepCopy()
		svc.ObjectMeta = metav1.ObjectMeta{Namespace: ns, Name: name, Labels: svc.Labels, Annotations: svc.Annotations, OwnerReferences: svc.OwnerReferences}
		svc.Labels[roomcontract.LabelRoom] = roomID
		svc.OwnerReferences[0].UID = types.UID(roomID)
		svc.OwnerReferences[0].Name = name[:len(name)-len("-room")]
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = corev1.ClusterIPNone, nil
		return svc
	}
	externalName := func(svc *corev1.Service) *corev1.Service {
		svc.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "decoy.example.test", Ports: svc.Spec.Ports}
		return svc
	}
	decoys := []struct {
		name   string
		svc    *corev1.Service
		reason string
	}{
		// Its owner's name is a session there too, with another UID.
		{"exact copy in another namespace", copyOf(d.otherNS, real.Name, id), frontdoor.IgnoredNoSession},
		{"copy in another namespace, no session of its owner's name", copyOf(d.otherNS, "carl-room", id), frontdoor.IgnoredNoSession},
		{"same namespace, owner UID names no session", copyOf(d.ns, "ghost-room", unknownID), frontdoor.IgnoredNoSession},
		{"same namespace, the room's UID under another owner name", copyOf(d.ns, "ghost2-room", id), frontdoor.IgnoredNoSession},
		{"another namespace, for a room not open yet", copyOf(d.otherNS, "bert-room", scheduledID), frontdoor.IgnoredNoSession},
		{"ExternalName in another namespace", externalName(copyOf(d.otherNS, "anna2-room", id)), roomcontract.ProblemType},
		{"ExternalName in the same namespace, for a room not open yet", externalName(copyOf(d.ns, "bert-room", scheduledID)), roomcontract.ProblemType},
	}
	// Another Service of the operator's that is no room's (its component
	// label says so), made before the decoys: the front door's watch asks
	// only for rooms' Services, so it never reaches the cache, where the
	// decoys made after it arrive (one watch, in order).
	notRoom := copyOf(d.ns, "other-component-room", id)
	notRoom.Labels[roomcontract.LabelComponent] = "room-reporter"
	if err := k8sClient.Create(context.Background(), notRoom); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{}
	for _, dc := range decoys {
		if err := k8sClient.Create(context.Background(), dc.svc); err != nil {
			t.Fatalf("%s: %v", dc.name, err)
		}
		d.serveRoom(dc.svc, decoy)
		want[dc.reason]++
	}
	testenv.Eventually(t, "every decoy in the front door's cache", func() error {
		for reason, n := range want {
			if got := metric(t, d.registry, "sprechzimmer_frontdoor_ignored_services", map[string]string{"reason": reason}); got != n {
				return errorf("ignored_services{reason=%s} = %v, want %v", reason, got, n)
			}
		}
		return nil
	})

	if got := metric(t, d.registry, "sprechzimmer_frontdoor_ignored_services", map[string]string{"reason": roomcontract.ProblemLabels}); got != 0 {
		t.Errorf("ignored_services{reason=labels} = %v, want 0: a Service that is no room's reached the front door's cache", got)
	}

	reference := d.get("/r/"+uuidLike()+"/", nil)
	tests := []struct {
		name, id   string
		wantStatus int
	}{
		{"the open room", id, http.StatusOK},
		{"the room not open yet", scheduledID, reference.status},
		{"the id no session has", unknownID, reference.status},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/", "/app.js"} {
				got := d.get("/r/"+tt.id+path, nil)
				wantBody := reference.body
				if tt.wantStatus == http.StatusOK {
					wantBody = path // the real room server's answer
				}
				if got.status != tt.wantStatus || got.body != wantBody {
					t.Errorf("GET %s: %d %.40q, want %d %.40q", path, got.status, got.body, tt.wantStatus, wantBody)
				}
			}
		})
	}
	if n := len(decoy.requests()); n != 0 {
		t.Errorf("the decoys got %d requests, want none", n)
	}
	if len(b.requests()) == 0 {
		t.Error("the real room got no request")
	}
	// The real room is not counted, and neither is anything else.
	if got := metric(t, d.registry, "sprechzimmer_frontdoor_ignored_services", map[string]string{"reason": roomcontract.ProblemOwner}); got != 0 {
		t.Errorf("ignored_services{reason=owner} = %v, want 0", got)
	}

	// The session goes; its Service, still there (no garbage collector
	// here), is no longer routed and counts as one without a session.
	if err := k8sClient.Delete(context.Background(), &videov1alpha1.VideoSession{ObjectMeta: metav1.ObjectMeta{Namespace: d.ns, Name: "anna"}}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the room without its session no longer routed", func() error {
		if got := d.get("/r/"+id+"/", nil); got.status != reference.status || got.body != reference.body {
			return errorf("status %d", got.status)
		}
		return nil
	})
	if got, n := metric(t, d.registry, "sprechzimmer_frontdoor_ignored_services", map[string]string{"reason": frontdoor.IgnoredNoSession}), want[frontdoor.IgnoredNoSession]+1; got != n {
		t.Errorf("ignored_services{reason=no-session} = %v, want %v", got, n)
	}
}

// TestFrontDoorRBACSuffices runs a Directory as the front door's
// ServiceAccount with nothing but config/frontdoor/rbac.yaml's ClusterRole
// and binding: its caches sync over all namespaces and an open room is
// found.
func TestFrontDoorRBACSuffices(t *testing.T) {
	ctx := context.Background()
	if err := manifests.Create(ctx, k8sClient, filepath.Join("..", "config", "frontdoor", "rbac.yaml")); err != nil {
		t.Fatal(err)
	}
	asFrontDoor := rest.CopyConfig(cfg)
	asFrontDoor.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:sprechzimmer-frontdoor:frontdoor",
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:sprechzimmer-frontdoor", "system:authenticated"},
	}
	d := startDoor(t)
	dir, err := frontdoor.NewDirectory(asFrontDoor, frontdoor.DirectoryOptions{Clock: d.clock})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Go(t, "directory", dir.Start)
	id, _ := d.createRoom("anna", roomSpec{})
	testenv.Eventually(t, "the room found as the front door", func() error {
		if !dir.Synced() {
			return errorf("not synced")
		}
		if _, ok := dir.Lookup(ctx, id); !ok {
			return errorf("room not found")
		}
		return nil
	})
}
