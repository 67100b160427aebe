package protocol

import "testing"

func BenchmarkDecodeCandidate(b *testing.B) {
	frame := []byte(`{"type":"candidate","data":{"candidate":"candidate:842163049 1 udp 1677729535 198.51.100.7 46154 typ srflx raddr 0.0.0.0 rport 0 generation 0","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"a1b2"}}`)
	b.ReportAllocs()
	for b.Loop() {
		env, err := Decode(frame)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := DecodeData[Candidate](env); err != nil {
			b.Fatal(err)
		}
	}
}
