package main

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/sprechzimmer/sprechzimmer/frontdoor"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr bool
		check   func(*options) bool
	}{
		{"defaults", nil, false, func(o *options) bool {
			return o.listen == ":8080" && o.metricsListen == ":9090" && o.clusterDomain == "cluster.local" && o.tlsCert == "" && len(o.namespaces) == 0
		}},
		{"namespaces repeat and split", []string{"--namespace=a,b", "--namespace", "c"}, false, func(o *options) bool {
			return slices.Equal(o.namespaces, []string{"a", "b", "c"})
		}},
		{"tls pair", []string{"--tls-cert-file=c.pem", "--tls-key-file=k.pem"}, false, func(o *options) bool {
			return o.tlsCert == "c.pem" && o.tlsKey == "k.pem"
		}},
		{"cert without key", []string{"--tls-cert-file=c.pem"}, true, nil},
		{"key without cert", []string{"--tls-key-file=k.pem"}, true, nil},
		{"empty cluster domain", []string{"--cluster-domain="}, true, nil},
		{"cluster domain with a port", []string{"--cluster-domain=cluster.local:53"}, true, nil},
		{"unknown flag", []string{"--listen-everywhere"}, true, nil},
		{"default limits", nil, false, func(o *options) bool {
			l := o.limits
			return l.RequestsPerSource == frontdoor.DefaultMaxRequestsPerSource && l.WebSocketsPerSource == frontdoor.DefaultMaxWebSocketsPerSource &&
				l.RequestsPerRoom == frontdoor.DefaultMaxRequestsPerRoom && len(l.TrustedProxies) == 0
		}},
		{"limits and trusted proxies", []string{"--max-requests-per-source=4", "--max-websockets-per-source=-1", "--max-requests-per-room=9", "--trusted-proxy=10.0.0.0/8,fd00::/8"}, false, func(o *options) bool {
			l := o.limits
			return l.RequestsPerSource == 4 && l.WebSocketsPerSource == -1 && l.RequestsPerRoom == 9 &&
				slices.Equal(l.TrustedProxies, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")})
		}},
		{"zero limit", []string{"--max-requests-per-room=0"}, true, nil},
		{"limit below -1", []string{"--max-websockets-per-source=-2"}, true, nil},
		{"trusted proxy not a CIDR", []string{"--trusted-proxy=ingress"}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseFlags(newFlagSet(), tt.args)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseFlags(%q) error = %v, want error %v", tt.args, err, tt.wantErr)
			}
			if tt.check != nil && !tt.check(o) {
				t.Errorf("parseFlags(%q) = %+v", tt.args, o)
			}
		})
	}
}
