package resolver

import (
	"context"
	"errors"
	"net"
	"testing"
)

func TestStaticDialsByTable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	r := NewStatic()
	r.Set("anna-room.praxis.svc.cluster.local", l.Addr().String())
	r.Set("gone-room.praxis.svc.cluster.local", l.Addr().String())
	r.Delete("gone-room.praxis.svc.cluster.local")

	tests := []struct {
		name    string
		addr    string
		wantErr error // nil: the dial reaches the listener
	}{
		{"known host, the port replaced", "anna-room.praxis.svc.cluster.local:80", nil},
		{"deleted host", "gone-room.praxis.svc.cluster.local:80", ErrNoAddress},
		{"unknown host", "other-room.praxis.svc.cluster.local:80", ErrNoAddress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := r.DialContext(context.Background(), "tcp", tt.addr)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("DialContext(%s) = %v", tt.addr, err)
				}
				_ = c.Close()
				return
			}
			var oerr *net.OpError
			if !errors.Is(err, tt.wantErr) || !errors.As(err, &oerr) || oerr.Op != "dial" {
				t.Fatalf("DialContext(%s) = %v, want a dial error with %v", tt.addr, err, tt.wantErr)
			}
		})
	}
	if _, err := r.DialContext(context.Background(), "tcp", "no-port"); err == nil {
		t.Fatal("DialContext without a port succeeded")
	}
}
