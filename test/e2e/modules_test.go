package e2e

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/sprechzimmer/sprechzimmer/internal/testbrowser"
)

// TestModules checks the page's pure functions in the browser that runs
// them, by importing the modules the page is made of.
func TestModules(t *testing.T) { forEachEngine(t, testModules) }

func testModules(t *testing.T, _ engine) {
	r := startRoom(t, roomOptions{})
	p := openPage(t, "modules", r.URL+"index.html")

	tests := []struct {
		name string
		// call is JavaScript with the modules m (i18n.js), s (signaling.js),
		// pr (protocol.js), c (conntest.js), md (devices.js), ph (phone.js),
		// off (offline.js) in scope.
		call string
		want any
	}{
		{"German browser", `m.pickLanguage(["de-DE", "en"], "en")`, "de"},
		{"English browser", `m.pickLanguage(["en-US"], "de")`, "en"},
		{"language tag in capitals", `m.pickLanguage(["EN-gb"], "de")`, "en"},
		{"French browser, English room", `m.pickLanguage(["fr-FR", "it"], "en")`, "en"},
		{"French browser, German room", `m.pickLanguage(["fr-FR"], "de")`, "de"},
		{"no browser languages, no room yet", `m.pickLanguage([], undefined)`, "de"},
		{"room language not known", `m.pickLanguage([], "xx")`, "de"},

		{"socket beside the page under a prefix", `s.socketURL("http://h:8080/r/abc/")`, "ws://h:8080/r/abc/ws"},
		{"socket over https", `s.socketURL("https://h/r/abc/#t=secret")`, "wss://h/r/abc/ws"},
		{"socket from index.html", `s.socketURL("https://h/r/abc/index.html?x=1")`, "wss://h/r/abc/ws"},

		{"first backoff", `s.backoff(0) >= 375 && s.backoff(0) <= 500`, true},
		{"backoff doubles", `s.backoff(3) >= 3000 && s.backoff(3) <= 4000`, true},
		{"backoff is capped", `s.backoff(20) <= 10000 && s.backoff(20) >= 7500`, true},

		{"name trimmed", `pr.cleanName("  Frau Beispiel \n")`, "Frau Beispiel"},
		{"control characters removed", `pr.cleanName("A\u0000B\u0007C")`, "ABC"},
		{"every fatal close code has a text", `Object.values(pr.FATAL_CLOSE).every(code => m.TEXTS.de["error." + code] && m.TEXTS.en["error." + code])`, true},
		{"English has every German text", `Object.keys(m.TEXTS.de).every(k => typeof m.TEXTS.en[k] === "string")`, true},

		{"TURN among the servers", `c.hasTURN([{urls: "stun:x"}, {urls: ["turns:y:443"]}])`, true},
		{"STUN only", `c.hasTURN([{urls: ["stun:x"]}])`, false},
		{"no servers", `c.hasTURN([])`, false},

		{"STUN check asks the UDP TURN server", `JSON.stringify(c.stunServers([{urls: ["turn:t.example:3478?transport=udp", "turn:t.example:443?transport=tcp", "turns:t.example:5349"]}]))`, `[{"urls":["stun:t.example:3478"]}]`},
		{"STUN servers given", `JSON.stringify(c.stunServers([{urls: "stun:s.example:3478"}]))`, `[{"urls":["stun:s.example:3478"]}]`},
		{"nothing to ask", `c.stunServers([]).length`, float64(0)},

		{"permission denied", `md.problemOf({name: "NotAllowedError"})`, "refused"},
		{"no device", `md.problemOf({name: "NotFoundError"})`, "missing"},
		{"device busy", `md.problemOf({name: "NotReadableError"})`, "busy"},
		{"chosen device gone", `md.problemOf({name: "OverconstrainedError"})`, "constraints"},
		{"anything else", `md.problemOf(new Error("x"))`, "failed"},
		{"every problem has a text", `["refused", "busy", "missing", "constraints", "insecure", "failed"].every(p => m.TEXTS.de["problem." + p] && m.TEXTS.en["problem." + p])`, true},

		{"next try in seconds, rounded up", `JSON.stringify(off.nextTryText(16500, 10000))`, `{"key":"offline.next","seconds":7}`},
		{"next try in one second", `JSON.stringify(off.nextTryText(10900, 10000))`, `{"key":"offline.nextOne","seconds":1}`},
		{"no try scheduled: trying now", `off.nextTryText(0, 10000).key`, "offline.trying"},
		{"every offline text in both languages", `["offline.message", "offline.next", "offline.nextOne", "offline.trying", "offline.retry"].every(k => m.TEXTS.de[k] && m.TEXTS.en[k])`, true},

		{"H.264 first", `ph.orderCodecs([{mimeType: "video/VP8"}, {mimeType: "video/rtx"}, {mimeType: "video/H264"}, {mimeType: "video/h264"}], "video/H264").map(c => c.mimeType).join(",")`, "video/H264,video/h264,video/VP8,video/rtx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertEvalsTo(t, p, `(async () => {
				const [m, s, pr, c, md, ph, off] = await Promise.all(["./i18n.js", "./signaling.js", "./protocol.js", "./conntest.js", "./devices.js", "./phone.js", "./offline.js"].map(f => import(f)));
				return %s;
			})()`, tt.call, tt.want)
		})
	}
}

// assertEvalsTo evaluates call in the page, placed into script's %s, and
// compares its JSON with want's.
func assertEvalsTo(t *testing.T, p *page, script, call string, want any) {
	t.Helper()
	got, err := testbrowser.Eval[any](p, fmt.Sprintf(script, call))
	if err != nil {
		t.Fatal(err)
	}
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("%s = %s, want %s", call, gotJSON, wantJSON)
	}
}
