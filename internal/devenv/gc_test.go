package devenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	testingclock "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	videov1alpha1 "github.com/sprechzimmer/sprechzimmer/api/v1alpha1"
	"github.com/sprechzimmer/sprechzimmer/internal/etcdscan"
	"github.com/sprechzimmer/sprechzimmer/internal/operator"
	"github.com/sprechzimmer/sprechzimmer/internal/roomcontract"
	"github.com/sprechzimmer/sprechzimmer/internal/testenv"
	"github.com/sprechzimmer/sprechzimmer/internal/testlog"
	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
)

// TestExpiredDemoLeavesNothingInEtcd runs the local setup of `make run` on
// a fake clock, gives the demo session a note, moves the clock to the
// session's expiry and then looks below the API server: no key in etcd
// names the session (its Secret, Service and Pod went with it, through
// kube-controller-manager's garbage collector, its Events by the
// operator), and once etcd is compacted and defragmented its database
// file holds none of the session's note, join tokens, links or TURN
// credential.
func TestExpiredDemoLeavesNothingInEtcd(t *testing.T) {
	if _, err := testenv.ControllerManager(); err != nil {
		t.Skipf("the local setup's garbage collector is not built: %v", err)
	}
	ctx := context.Background()
	clk := testingclock.NewFakeClock(time.Now().Truncate(time.Second))
	// Every component logs into logs, the operator too: none may log a
	// secret of the session.
	logs := &testlog.Buffer{}
	ctrl.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(logs, nil)))
	setup, err := Start(ctx, Options{Listen: "127.0.0.1:0", Out: io.Discard, Logs: logs, Clock: clk})
	if err != nil {
		t.Fatalf("Start() = %v", err)
	}
	t.Cleanup(setup.Stop)
	api, err := client.New(setup.Config, client.Options{Scheme: operator.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	etcd, err := etcdscan.Dial(setup.EtcdURL.String(), setup.EtcdDataDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = etcd.Close() })

	// The therapist writes a note, as a portal would after the booking.
	session := &videov1alpha1.VideoSession{}
	key := types.NamespacedName{Namespace: DemoNamespace, Name: DemoSession}
	if err := api.Get(ctx, key, session); err != nil {
		t.Fatal(err)
	}
	before := session.DeepCopy()
	session.Spec.Note = "note " + randomHex(t)
	if err := api.Patch(ctx, session, client.MergeFrom(before)); err != nil {
		t.Fatalf("writing the note: %v", err)
	}
	needles := sessionSecrets(t, api, session)
	uid := []byte(session.UID)

	// Before expiry the scan sees the session's objects and secrets: it
	// looks where they are.
	testenv.Eventually(t, "etcd holds the session's objects and secrets", func() error {
		keys, err := etcd.KeysContaining(ctx, uid)
		if err != nil {
			return err
		}
		for _, want := range []string{"secrets", "services", "pods"} {
			if !containsKind(keys, want) {
				return fmt.Errorf("no %s key names the session; keys naming it: %v", want, keys)
			}
		}
		found, err := etcdscan.FileContains(etcd.DatabaseFile(), needles)
		if err != nil {
			return err
		}
		if len(found) != len(needles) {
			return fmt.Errorf("the database file holds %v of %d secrets", found, len(needles))
		}
		return nil
	})

	testenv.SetQueueTime(t, clk, session.Status.ExpiresAt.Time)
	testenv.Eventually(t, "the session and everything it owned are gone", func() error {
		switch err := api.Get(ctx, key, &videov1alpha1.VideoSession{}); {
		case err == nil:
			return errors.New("the session is still there")
		case !apierrors.IsNotFound(err):
			return err
		}
		keys, err := etcd.KeysContaining(ctx, uid)
		if err != nil {
			return err
		}
		// Its Events too: the operator deletes them with the session.
		if len(keys) > 0 {
			return fmt.Errorf("keys still naming the session: %v", keys)
		}
		return nil
	})

	if err := etcd.CompactAndDefragment(ctx); err != nil {
		t.Fatal(err)
	}
	found, err := etcdscan.FileContains(etcd.DatabaseFile(), needles)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) > 0 {
		t.Errorf("after compaction and defragmentation, etcd's database file still holds the session's %v", found)
	}
	// What compaction does not reach, for the record: the write-ahead log
	// keeps every write until a snapshot lets etcd drop the file.
	wals, err := etcd.WALFiles()
	if err != nil {
		t.Fatal(err)
	}
	for _, wal := range wals {
		inWAL, err := etcdscan.FileContains(wal, needles)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("etcd's write-ahead log %s still holds the session's %v (until etcd snapshots and drops the file; Stop removes it)", filepath.Base(wal), inWAL)
	}
	for name, needle := range needles {
		if strings.Contains(logs.String(), string(needle)) {
			t.Errorf("the components' logs hold the session's %s", name)
		}
	}
}

// sessionSecrets waits for the room's Secret and returns what must not
// outlive the session, by name: the note, the join tokens and links, the
// TURN user name and password.
func sessionSecrets(t *testing.T, api client.Client, session *videov1alpha1.VideoSession) map[string][]byte {
	t.Helper()
	secret := &corev1.Secret{}
	key := types.NamespacedName{Namespace: session.Namespace, Name: roomcontract.LinksSecretName(session)}
	testenv.Eventually(t, "the room's Secret", func() error { return api.Get(context.Background(), key, secret) })
	needles := map[string][]byte{"note": []byte(session.Spec.Note)}
	for _, k := range []string{roomcontract.SecretKeyTherapistToken, roomcontract.SecretKeyClientToken, roomcontract.SecretKeyTherapistLink, roomcontract.SecretKeyClientLink} {
		if len(secret.Data[k]) == 0 {
			t.Fatalf("the room's Secret has no %s", k)
		}
		needles[k] = secret.Data[k]
	}
	var ice []protocol.ICEServer
	if err := json.Unmarshal(secret.Data["ice-servers"], &ice); err != nil {
		t.Fatalf("the room's ICE servers: %v", err)
	}
	for _, s := range ice {
		if s.Credential != "" {
			needles["TURN user name"], needles["TURN password"] = []byte(s.Username), []byte(s.Credential)
		}
	}
	if needles["TURN password"] == nil {
		t.Fatal("the room's Secret has no TURN credential")
	}
	return needles
}

// containsKind reports whether one of the keys is of the resource (a key
// is /registry/<resource>/<namespace>/<name>).
func containsKind(keys []string, resource string) bool {
	for _, k := range keys {
		if strings.HasPrefix(k, etcdscan.Prefix+resource+"/") {
			return true
		}
	}
	return false
}

func randomHex(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
