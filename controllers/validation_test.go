package controllers_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	videov1alpha1 "github.com/sprechzimmer/sprechzimmer/api/v1alpha1"
)

// TestInvalidSessionsAreRefused sends bad sessions through the real API
// server, its schema and the webhook: each is refused with a message that
// names the field, and nothing is stored.
func TestInvalidSessionsAreRefused(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	soon := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	dur := func(d string) *metav1.Duration {
		p, err := time.ParseDuration(d)
		if err != nil {
			t.Fatal(err)
		}
		return &metav1.Duration{Duration: p}
	}
	creates := []struct {
		name     string
		mutate   func(*videov1alpha1.VideoSession)
		wantText []string
	}{
		{"negative validity", func(s *videov1alpha1.VideoSession) { s.Spec.ValidFor = dur("-1h") }, []string{"spec.validFor"}},
		{"huge validity", func(s *videov1alpha1.VideoSession) { s.Spec.ValidFor = dur("48h") }, []string{"spec.validFor", "between 15m and 12h"}},
		{"validity too short", func(s *videov1alpha1.VideoSession) { s.Spec.ValidFor = dur("1m") }, []string{"spec.validFor", "between 15m and 12h"}},
		{"opens far too early", func(s *videov1alpha1.VideoSession) { s.Spec.OpensBefore = dur("3h") }, []string{"spec.opensBefore", "between 0s and 2h"}},
		{"negative opening", func(s *videov1alpha1.VideoSession) { s.Spec.OpensBefore = dur("-5m") }, []string{"spec.opensBefore"}},
		{"note too long", func(s *videov1alpha1.VideoSession) { s.Spec.Note = strings.Repeat("n", 501) }, []string{"spec.note", "500"}},
		{"note with NUL", func(s *videov1alpha1.VideoSession) { s.Spec.Note = "vor\x00nach" }, []string{"spec.note", "control characters"}},
		{"note with escape", func(s *videov1alpha1.VideoSession) { s.Spec.Note = "\x1b[2Jcleared" }, []string{"spec.note", "control characters"}},
		{"note with DEL", func(s *videov1alpha1.VideoSession) { s.Spec.Note = "a\x7fb" }, []string{"spec.note", "control characters"}},
		{"note with a C1 control", func(s *videov1alpha1.VideoSession) { s.Spec.Note = "a\u0085b" }, []string{"spec.note", "control characters"}},
		{"note with a vertical tab", func(s *videov1alpha1.VideoSession) { s.Spec.Note = "a\vb" }, []string{"spec.note", "control characters"}},
		{"therapist reference with a name", func(s *videov1alpha1.VideoSession) { s.Spec.TherapistRef = "Dr. Erika Muster" }, []string{"spec.therapistRef", "never a name"}},
		{"therapist reference too long", func(s *videov1alpha1.VideoSession) { s.Spec.TherapistRef = strings.Repeat("a", 65) }, []string{"spec.therapistRef"}},
		{"unknown language", func(s *videov1alpha1.VideoSession) { s.Spec.Language = "fr" }, []string{"spec.language", "de", "en"}},
		{"unknown admission", func(s *videov1alpha1.VideoSession) { s.Spec.Admission = "Later" }, []string{"spec.admission", "Therapist", "Automatic"}},
		{"start far in the past", func(s *videov1alpha1.VideoSession) {
			s.Spec.StartTime = metav1.Time{Time: time.Now().Add(-5 * time.Hour)}
		}, []string{"spec.startTime", "too far in the past"}},
		{"start years ahead", func(s *videov1alpha1.VideoSession) {
			s.Spec.StartTime = metav1.Time{Time: time.Now().Add(2 * 365 * 24 * time.Hour)}
		}, []string{"spec.startTime", "366 days"}},
		{"no start time", func(s *videov1alpha1.VideoSession) { s.Spec.StartTime = metav1.Time{} }, []string{"spec.startTime"}},
		{"name that cannot name a Service", func(s *videov1alpha1.VideoSession) { s.Name = "4711-appointment" }, []string{"metadata.name", "start with a letter"}},
		{"name too long", func(s *videov1alpha1.VideoSession) { s.Name = "a" + strings.Repeat("b", 48) }, []string{"metadata.name", "48"}},
		{"foreign finalizer", func(s *videov1alpha1.VideoSession) { s.Finalizers = []string{"portal.example/keep"} }, []string{"metadata.finalizers[0]", "portal.example/keep", "after expiry"}},
		{"foreign finalizer after the garbage collector's", func(s *videov1alpha1.VideoSession) {
			s.Finalizers = []string{metav1.FinalizerDeleteDependents, "kubernetes"}
		}, []string{"metadata.finalizers[1]", "after expiry"}},
	}
	for _, tt := range creates {
		t.Run("create/"+tt.name, func(t *testing.T) {
			s := newSession(ns, "bad", soon)
			tt.mutate(s)
			err := k8sClient.Create(ctx, s)
			assertRefused(t, err, tt.wantText)
			if s.Spec.Note != "" && (strings.Contains(err.Error(), s.Spec.Note) || strings.Contains(err.Error(), strings.Trim(strconv.Quote(s.Spec.Note), `"`))) {
				t.Errorf("the error repeats the note: %v", err)
			}
			if s.Spec.TherapistRef != "" && strings.Contains(err.Error(), s.Spec.TherapistRef) {
				t.Errorf("the error repeats the therapist reference: %v", err)
			}
			if getErr := k8sClient.Get(ctx, client.ObjectKeyFromObject(s), &videov1alpha1.VideoSession{}); !apierrors.IsNotFound(getErr) {
				t.Errorf("a refused session was stored (get: %v)", getErr)
			}
		})
	}

	// A room that has opened keeps its times; before opening they may move.
	opened := newSession(ns, "opened", soon)
	create(t, opened)
	reportRoom(t, opened, `{"status":{"openedAt":"`+time.Now().UTC().Format(time.RFC3339)+`"}}`)
	scheduled := newSession(ns, "scheduled", soon)
	create(t, scheduled)
	updates := []struct {
		name     string
		session  *videov1alpha1.VideoSession
		patch    string
		wantText []string
	}{
		{"move the start of an open room", opened, `{"spec":{"startTime":"` + soon.Add(time.Hour).UTC().Format(time.RFC3339) + `"}}`, []string{"cannot change once the room has opened"}},
		{"extend the validity of an open room", opened, `{"spec":{"validFor":"6h"}}`, []string{"cannot change once the room has opened"}},
		{"open an open room earlier", opened, `{"spec":{"opensBefore":"1h"}}`, []string{"cannot change once the room has opened"}},
		{"add a finalizer", scheduled, `{"metadata":{"finalizers":["portal.example/keep"]}}`, []string{"metadata.finalizers[0]", "portal.example/keep"}},
		{"add a finalizer to an open room", opened, `{"metadata":{"finalizers":["portal.example/keep"]}}`, []string{"metadata.finalizers[0]", "portal.example/keep"}},
		{"move a scheduled room into the past", scheduled, `{"spec":{"startTime":"` + time.Now().Add(-24*time.Hour).UTC().Format(time.RFC3339) + `"}}`, []string{"spec.startTime", "too far in the past"}},
	}
	for _, tt := range updates {
		t.Run("update/"+tt.name, func(t *testing.T) {
			before, err := getSession(client.ObjectKeyFromObject(tt.session))
			if err != nil {
				t.Fatal(err)
			}
			err = k8sClient.Patch(ctx, before.DeepCopy(), client.RawPatch(types.MergePatchType, []byte(tt.patch)))
			assertRefused(t, err, tt.wantText)
			after, _ := getSession(client.ObjectKeyFromObject(tt.session))
			if !after.Spec.StartTime.Equal(&before.Spec.StartTime) || *after.Spec.ValidFor != *before.Spec.ValidFor || *after.Spec.OpensBefore != *before.Spec.OpensBefore ||
				len(after.Finalizers) != len(before.Finalizers) {
				t.Error("a refused update changed the session")
			}
		})
	}

	// Moving a scheduled room is fine.
	if err := k8sClient.Patch(ctx, scheduled, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"validFor":"2h"}}`))); err != nil {
		t.Errorf("moving a room that has not opened: %v", err)
	}

	// Tabs and line breaks in a note are fine, and so are the garbage
	// collector's finalizers.
	fine := newSession(ns, "fine", soon)
	fine.Spec.Note = "Zeile 1\r\n\tZeile 2: Schlaf – besser ✓"
	fine.Finalizers = []string{metav1.FinalizerDeleteDependents}
	create(t, fine)
	if err := k8sClient.Patch(ctx, fine, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`))); err != nil {
		t.Errorf("removing a finalizer: %v", err)
	}
}

func assertRefused(t *testing.T, err error, wantText []string) {
	t.Helper()
	if err == nil {
		t.Fatal("accepted, want refused")
	}
	if !apierrors.IsInvalid(err) && !apierrors.IsBadRequest(err) {
		t.Fatalf("err = %v, want an invalid-object error", err)
	}
	for _, want := range wantText {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err.Error(), want)
		}
	}
}
