package testbrowser

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// page is a form whose button counts clicks and Enter presses, and a
// camera request whose outcome lands in data-media and whose microphone
// Web Audio measures. At the first press of a mouse button the form moves
// down, as a page does when a preview gets its size on a busy machine: the
// press lands on the button, the release on what came in its place, and
// the click on neither, so Click must see that and click again.
const testPage = `<!doctype html><html><head><meta name="viewport" content="width=device-width"></head><body data-state="ready">
<input id="name"><button id="go">go</button><p id="out"></p>
<script>
let n = 0;
document.getElementById("go").addEventListener("click", () => {
	n++;
	document.getElementById("out").textContent = document.getElementById("name").value + " " + n;
});
document.addEventListener("mousedown", () => {
	const spacer = document.createElement("div");
	spacer.style.height = "300px";
	document.body.prepend(spacer);
}, { capture: true, once: true });
navigator.mediaDevices.getUserMedia({ video: true, audio: true })
	.then((s) => {
		document.body.dataset.media = "ok:" + s.getTracks().length;
		hear(s);
	})
	.catch((e) => { document.body.dataset.media = e.name; });
// hear puts the loudest sample of the microphone, as Web Audio reads it,
// in window.peak.
function hear(s) {
	const ctx = new AudioContext();
	const analyser = ctx.createAnalyser();
	ctx.createMediaStreamSource(s).connect(analyser);
	const samples = new Float32Array(analyser.fftSize);
	window.peak = 0;
	setInterval(() => {
		analyser.getFloatTimeDomainData(samples);
		window.peak = Math.max(window.peak, ...samples.map(Math.abs));
	}, 50);
}
</script></body></html>`

// TestEngines drives the same page in every engine through Page's methods:
// values of each JSON type, waits, mouse (on a moving layout) and keyboard,
// reload, the tab options, and the fake camera allowed or denied.
func TestEngines(t *testing.T) {
	url := servePage(t, testPage)
	for _, e := range Engines {
		t.Run(string(e), func(t *testing.T) {
			Require(t, e)
			for _, deny := range []bool{false, true} {
				t.Run(fmt.Sprintf("deny media %v", deny), func(t *testing.T) {
					b, stop, err := Launch(LaunchOptions{Engine: e, FakeUI: true, DenyMedia: deny})
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(stop)
					p := Open(t, b, "test", url,
						WithLanguages("en-GB,de"),
						WithViewport(360, 740, true),
						WithInitScript(`window.early = document.readyState;`))
					want := "ok:2"
					if deny {
						want = "NotAllowedError"
					}
					p.WaitFor("the camera's answer", `!!document.body.dataset.media`)
					if got, _ := Eval[string](p, "document.body.dataset.media"); got != want {
						t.Errorf("camera: %q, want %q", got, want)
					}
					if deny {
						return
					}
					checks := []struct {
						expr string
						want string
					}{
						{`navigator.languages.join(",")`, `"en-GB,de"`},
						{`window.innerWidth`, `360`},
						{`/Mobile/.test(navigator.userAgent)`, `true`},
						{`window.early`, `"loading"`},
						{`Promise.resolve({a: [1, "x", null, true]})`, `{"a":[1,"x",null,true]}`},
					}
					for _, c := range checks {
						got, err := Eval[any](p, c.expr)
						if err != nil {
							t.Fatalf("%s: %v", c.expr, err)
						}
						if b := mustJSON(t, got); b != c.want {
							t.Errorf("%s = %s, want %s", c.expr, b, c.want)
						}
					}
					if _, err := Eval[string](p, `undefined`); !errors.Is(err, ErrNoValue) {
						t.Errorf("undefined as a string: %v, want ErrNoValue", err)
					}
					if _, err := Eval[bool](p, `(() => { throw new Error("boom") })()`); err == nil {
						t.Errorf("a thrown error gave no error")
					}
					// The level meter's way: without an audio output Firefox's
					// Web Audio would stay suspended and read only zeros.
					p.WaitFor("the fake microphone heard through Web Audio", `window.peak > 0`)
					p.Type("name", "Frau Ä")
					p.Click("go")
					p.WaitFor("the click", `document.getElementById("out").textContent === "Frau Ä 1"`)
					if err := p.tab.pressEnter("go"); err != nil {
						t.Fatal(err)
					}
					p.WaitFor("Enter on the button", `document.getElementById("out").textContent === "Frau Ä 2"`)
					p.Reload()
					if got := p.Text("out"); got != "" {
						t.Errorf("after reload: %q", got)
					}
					if got, _ := Eval[string](p, `navigator.languages.join(",")`); got != "en-GB,de" {
						t.Errorf("languages after reload: %q", got)
					}
				})
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSetPermission sets camera and microphone per origin in a browser
// that asks (no FakeUI), and reads what getUserMedia answers the page.
func TestSetPermission(t *testing.T) {
	url := servePage(t, `<!doctype html><title>permissions</title>`)
	// open asks for one kind of device and says what came back.
	const open = `(kind) => navigator.mediaDevices.getUserMedia({[kind]: true}).then(s => { s.getTracks().forEach(t => t.stop()); return "ok"; }, e => e.name)`
	steps := []struct {
		name               string
		camera, microphone bool
		wantVideo          string
		wantAudio          string
	}{
		{"both refused", false, false, "NotAllowedError", "NotAllowedError"},
		{"microphone allowed", false, true, "NotAllowedError", "ok"},
		{"both allowed", true, true, "ok", "ok"},
	}
	for _, e := range Engines {
		t.Run(string(e), func(t *testing.T) {
			Require(t, e)
			b, stop, err := Launch(LaunchOptions{Engine: e})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(stop)
			p := Open(t, b, "test", url)
			for _, s := range steps {
				if err := b.SetPermission(url, Camera, s.camera); err != nil {
					t.Fatal(err)
				}
				if err := b.SetPermission(url, Microphone, s.microphone); err != nil {
					t.Fatal(err)
				}
				for kind, want := range map[string]string{"video": s.wantVideo, "audio": s.wantAudio} {
					got, err := Eval[string](p, fmt.Sprintf("(%s)(%q)", open, kind))
					if err != nil {
						t.Fatal(err)
					}
					if got != want {
						t.Errorf("%s: %s: %q, want %q", s.name, kind, got, want)
					}
				}
			}
		})
	}
}

// servePage serves html on a loopback address until the test ends and
// returns its URL.
func servePage(t *testing.T, html string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = fmt.Fprint(w, html)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
