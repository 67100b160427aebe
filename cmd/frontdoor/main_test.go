package main

import (
	"slices"
	"testing"
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
