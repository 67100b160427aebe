package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sprechzimmer/sprechzimmer/internal/testenv"
	"github.com/sprechzimmer/sprechzimmer/internal/turncred"
	"github.com/sprechzimmer/sprechzimmer/internal/turntest"
)

// turnTLSHost is the name config/overlays/single-node issues the TURN
// server's certificate for.
const turnTLSHost = "turn.sprechzimmer.test"

// testTURNOverTLS checks TURN over TLS as installed: a TURN client reaches
// the Service "turn" on port 443, gets the certificate cert-manager issued
// into the Secret turn-tls, and allocates a relay with the room
// credentials' secret. Then cert-manager issues a new certificate (the
// Secret is deleted, as on a re-issue) and the next connection gets it,
// while the TURN Pod runs on without a restart.
func testTURNOverTLS(t *testing.T, api ctrlclient.Client) {
	ctx := context.Background()
	var svc corev1.Service
	if err := api.Get(ctx, types.NamespacedName{Namespace: "sprechzimmer-turn", Name: "turn"}, &svc); err != nil {
		t.Fatal(err)
	}
	addr := &net.TCPAddr{IP: net.ParseIP(svc.Spec.ClusterIP), Port: 443}
	var shared corev1.Secret
	if err := api.Get(ctx, types.NamespacedName{Namespace: "sprechzimmer-system", Name: "sprechzimmer-turn"}, &shared); err != nil {
		t.Fatal(err)
	}
	pods := &corev1.PodList{}
	if err := api.List(ctx, pods, ctrlclient.InNamespace("sprechzimmer-turn"), ctrlclient.MatchingLabels{"app.kubernetes.io/component": "turn"}); err != nil || len(pods.Items) != 1 {
		t.Fatalf("TURN Pods: %d (err %v), want 1", len(pods.Items), err)
	}
	pod := pods.Items[0]

	served := func() (*x509.Certificate, error) {
		roots, err := issuedCA(ctx, api)
		if err != nil {
			return nil, err
		}
		d := tls.Dialer{Config: &tls.Config{RootCAs: roots, ServerName: turnTLSHost, MinVersion: tls.VersionTLS12}}
		dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		c, err := d.DialContext(dialCtx, "tcp", addr.String())
		if err != nil {
			return nil, err
		}
		defer func() { _ = c.Close() }()
		return c.(*tls.Conn).ConnectionState().PeerCertificates[0], nil
	}
	var first *x509.Certificate
	testenv.EventuallyWithin(t, "the TURN server serves the issued certificate on the Service's port 443", 2*time.Minute, func() (err error) {
		first, err = served()
		return err
	})

	roots, err := issuedCA(ctx, api)
	if err != nil {
		t.Fatal(err)
	}
	cred := turncred.Mint(shared.Data["secret"], "room-node-tls", time.Now().Add(time.Hour))
	allocCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	alloc, err := turntest.Allocate(allocCtx, turntest.TLSAddr{Addr: addr, Config: &tls.Config{RootCAs: roots, ServerName: turnTLSHost, MinVersion: tls.VersionTLS12}}, cred.Username, cred.Password)
	if err != nil {
		t.Fatalf("Allocate() over TLS through the Service's port 443 = %v", err)
	}
	alloc.Close()

	// A new certificate: cert-manager issues one into a new Secret; the
	// kubelet updates the mounted files within its sync period.
	if err := cluster.Kubectl(ctx, "-n", "sprechzimmer-turn", "delete", "secret", "turn-tls"); err != nil {
		t.Fatal(err)
	}
	testenv.EventuallyWithin(t, "the TURN server serves the new certificate without a restart", 4*time.Minute, func() error {
		c, err := served()
		if err != nil {
			return err
		}
		if c.SerialNumber.Cmp(first.SerialNumber) == 0 {
			return errors.New("still the first certificate")
		}
		return nil
	})
	var after corev1.Pod
	if err := api.Get(ctx, ctrlclient.ObjectKeyFromObject(&pod), &after); err != nil {
		t.Fatalf("the TURN Pod is gone: %v", err)
	}
	if restarts(&after) != restarts(&pod) {
		t.Errorf("the TURN container restarted (%d, was %d): the certificate should reload in place", restarts(&after), restarts(&pod))
	}
}

// issuedCA is the CA of the Secret turn-tls (a self-signed certificate is
// its own CA).
func issuedCA(ctx context.Context, api ctrlclient.Client) (*x509.CertPool, error) {
	var s corev1.Secret
	if err := api.Get(ctx, types.NamespacedName{Namespace: "sprechzimmer-turn", Name: "turn-tls"}, &s); err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.Data["ca.crt"]) {
		return nil, fmt.Errorf("secret turn-tls has no ca.crt")
	}
	return pool, nil
}

func restarts(p *corev1.Pod) int32 {
	var n int32
	for _, s := range p.Status.ContainerStatuses {
		n += s.RestartCount
	}
	return n
}
