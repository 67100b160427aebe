package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const secret = "0123456789abcdef0123"
	good := write("good", secret)
	valid := options{realm: "turn.example.org", secretFile: good, publicIP: "203.0.113.10", minPort: 50000, maxPort: 50099, maxPerClient: 7}

	tests := []struct {
		name    string
		change  func(o *options)
		wantErr string // "" means no error
	}{
		{name: "valid", change: func(*options) {}},
		{name: "no realm", change: func(o *options) { o.realm = "" }, wantErr: "-realm"},
		{name: "no secret file", change: func(o *options) { o.secretFile = "" }, wantErr: "-secret-file"},
		{name: "missing secret file", change: func(o *options) { o.secretFile = filepath.Join(dir, "nope") }, wantErr: "read secret file"},
		{name: "secret with a trailing newline", change: func(o *options) { o.secretFile = write("nl", secret+"\n") }, wantErr: "whitespace"},
		{name: "short secret", change: func(o *options) { o.secretFile = write("short", "abc") }, wantErr: "shorter"},
		{name: "public IP is a name", change: func(o *options) { o.publicIP = "turn.example.org" }, wantErr: "-public-ip"},
		{name: "port range upside down", change: func(o *options) { o.minPort, o.maxPort = 50100, 50000 }, wantErr: "port range"},
		{name: "port above 65535", change: func(o *options) { o.maxPort = 70000 }, wantErr: "port range"},
		{name: "bad deny CIDR", change: func(o *options) { o.denyPeers = "10.0.0.0/99" }, wantErr: "-deny-peers"},
		{name: "TLS listener without a certificate", change: func(o *options) { o.listenTLS = ":443" }, wantErr: "-tls-cert-file"},
		{name: "TLS listener without a key", change: func(o *options) { o.listenTLS, o.tlsCertFile = ":443", "/tls/tls.crt" }, wantErr: "-tls-key-file"},
		{name: "certificate without a TLS listener", change: func(o *options) { o.tlsCertFile, o.tlsKeyFile = "/tls/tls.crt", "/tls/tls.key" }, wantErr: "-listen-tls"},
		{name: "TLS listener with certificate and key", change: func(o *options) {
			o.listenTLS, o.tlsCertFile, o.tlsKeyFile = ":443", "/tls/tls.crt", "/tls/tls.key"
		}},
		{name: "bad allow CIDR", change: func(o *options) { o.allowPeers = "loopback" }, wantErr: "-allow-peers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := valid
			tt.change(&o)
			cfg, err := o.config()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("config() = %v, want no error", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("config() = %v, want an error mentioning %q", err, tt.wantErr)
			case err != nil && strings.Contains(err.Error(), secret):
				t.Fatalf("config() error shows the secret: %v", err)
			case tt.wantErr == "" && cfg.MaxAllocationsPerClient != o.maxPerClient:
				t.Fatalf("config() MaxAllocationsPerClient = %d, want -max-allocations-per-client %d", cfg.MaxAllocationsPerClient, o.maxPerClient)
			case tt.wantErr == "" && string(cfg.Secret) != secret:
				t.Fatalf("config() secret has %d bytes, want the file's %d", len(cfg.Secret), len(secret))
			}
		})
	}
}
