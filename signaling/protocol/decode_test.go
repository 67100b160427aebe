package protocol

import (
	"errors"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name  string
		frame string
		want  Code // "" means accepted
		typ   Type
	}{
		{"offer", `{"type":"offer","data":{"sdp":"v=0"}}`, "", TypeOffer},
		{"no data", `{"type":"hangup"}`, "", TypeHangup},
		{"null data", `{"type":"hangup","data":null}`, "", TypeHangup},
		{"unknown fields ignored", `{"type":"hangup","data":{},"x":1}`, "", TypeHangup},
		{"not json", `hello`, CodeBadMessage, ""},
		{"trailing garbage", `{"type":"hangup"} x`, CodeBadMessage, ""},
		{"array", `[1,2]`, CodeBadMessage, ""},
		{"type not string", `{"type":3}`, CodeBadMessage, ""},
		{"no type", `{"data":{}}`, CodeBadMessage, ""},
		{"data is string", `{"type":"offer","data":"v=0"}`, CodeBadMessage, ""},
		{"unknown type", `{"type":"shout"}`, CodeUnknownType, ""},
		{"server type from browser", `{"type":"welcome","data":{}}`, CodeUnknownType, ""},
		{"too large", `{"type":"offer","data":{"sdp":"` + strings.Repeat("a", MaxMessageBytes) + `"}}`, CodeTooLarge, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := Decode([]byte(tt.frame))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if env.Type != tt.typ {
					t.Fatalf("type = %q, want %q", env.Type, tt.typ)
				}
				return
			}
			var perr *Error
			if !errors.As(err, &perr) || perr.Code != tt.want {
				t.Fatalf("err = %v, want code %s", err, tt.want)
			}
		})
	}
}

func TestDecodeData(t *testing.T) {
	env, err := Decode([]byte(`{"type":"join","data":{"name":5}}`))
	if err != nil {
		t.Fatal(err)
	}
	var perr *Error
	if _, err := DecodeData[Join](env); !errors.As(err, &perr) || perr.Code != CodeBadMessage {
		t.Fatalf("err = %v, want bad-message", err)
	}
	env, _ = Decode([]byte(`{"type":"candidate","data":{"candidate":null}}`))
	c, err := DecodeData[Candidate](env)
	if err != nil || c.Candidate != nil {
		t.Fatalf("end of candidates: %+v, %v", c, err)
	}
}

func TestErrorCloseCodes(t *testing.T) {
	tests := []struct {
		code  Code
		close int
	}{
		{CodeHelloRequired, 4000}, {CodeVersionUnsupported, 4000}, {CodeLinkInvalid, 4001},
		{CodeLinkExpired, 4002}, {CodeRoomFull, 4003}, {CodeReplaced, 4005}, {CodeRoomClosed, 4006},
		{CodeBadMessage, 0}, {CodeRateLimited, 0},
	}
	for _, tt := range tests {
		e := NewError(tt.code, "x")
		if e.CloseCode() != tt.close || e.Fatal() != (tt.close != 0) {
			t.Errorf("%s: close %d fatal %v, want %d", tt.code, e.CloseCode(), e.Fatal(), tt.close)
		}
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	b, err := Encode(TypePeerLeft, PeerLeft{Role: RoleClient, Reason: LeftGone})
	if err != nil {
		t.Fatal(err)
	}
	env, err := DecodeServer(b)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeData[PeerLeft](env)
	if err != nil || got != (PeerLeft{Role: RoleClient, Reason: LeftGone}) {
		t.Fatalf("got %+v, %v", got, err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"type":"hello","data":{"version":2,"token":"abc"}}`,
		`{"type":"join","data":{"consent":{"termsAccepted":true},"name":"A"}}`,
		`{"type":"candidate","data":{"candidate":null}}`,
		`{"type":"offer","data":"x"}`, `[]`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		env, err := Decode(frame)
		if err != nil {
			var perr *Error
			if !errors.As(err, &perr) || perr.Fatal() {
				t.Fatalf("Decode error is not a non-fatal *Error: %v", err)
			}
			return
		}
		if !fromBrowser[env.Type] {
			t.Fatalf("accepted type %q", env.Type)
		}
		for _, decode := range []func(*Envelope) error{
			func(e *Envelope) error { _, err := DecodeData[Hello](e); return err },
			func(e *Envelope) error { _, err := DecodeData[Join](e); return err },
			func(e *Envelope) error { _, err := DecodeData[Candidate](e); return err },
			func(e *Envelope) error { _, err := DecodeData[SDP](e); return err },
		} {
			if err := decode(env); err != nil {
				var perr *Error
				if !errors.As(err, &perr) || perr.Code != CodeBadMessage {
					t.Fatalf("DecodeData error is not bad-message: %v", err)
				}
			}
		}
	})
}
