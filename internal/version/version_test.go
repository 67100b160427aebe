package version

import (
	"bytes"
	"flag"
	"io"
	"regexp"
	"runtime/debug"
	"testing"
)

func TestVersionIsSemver(t *testing.T) {
	if !regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`).MatchString(Version) {
		t.Fatalf("VERSION %q is not v<major>.<minor>.<patch>", Version)
	}
}

func TestVersionOf(t *testing.T) {
	tests := []struct{ stamped, file, want string }{
		{"", "v0.1.0\n", "v0.1.0"},
		{"v0.2.0-rc.1", "v0.1.0\n", "v0.2.0-rc.1"},
	}
	for _, tt := range tests {
		if got := versionOf(tt.stamped, tt.file); got != tt.want {
			t.Errorf("versionOf(%q, %q) = %q, want %q", tt.stamped, tt.file, got, tt.want)
		}
	}
}

func TestCommitOf(t *testing.T) {
	settings := func(kv ...string) *debug.BuildInfo {
		info := &debug.BuildInfo{}
		for i := 0; i < len(kv); i += 2 {
			info.Settings = append(info.Settings, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return info
	}
	tests := []struct {
		name    string
		stamped string
		info    *debug.BuildInfo
		want    string
	}{
		{"stamped wins", "abc123", settings("vcs.revision", "def456"), "abc123"},
		{"toolchain revision", "", settings("vcs.revision", "def456", "vcs.modified", "false"), "def456"},
		{"modified tree", "", settings("vcs.revision", "def456", "vcs.modified", "true"), "def456-dirty"},
		{"no vcs settings", "", settings("GOOS", "linux"), "unknown"},
		{"no build info", "", nil, "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := commitOf(tt.stamped, tt.info); got != tt.want {
				t.Errorf("commitOf = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFlag(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		wantPrint bool
		wantErr   bool
	}{
		{"double dash", []string{"--version"}, true, false},
		{"single dash", []string{"-version"}, true, false},
		{"explicit true", []string{"--version=true"}, true, false},
		{"explicit false", []string{"--version=false"}, false, false},
		{"not given", []string{"--other=x"}, false, false},
		{"not a bool", []string{"--version=soon"}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			exited := -1
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			fs.String("other", "", "")
			fs.Var(&printFlag{name: "manager", out: &out, exit: func(code int) { exited = code }}, "version", "")
			err := fs.Parse(tt.args)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Parse error %v, want error %v", err, tt.wantErr)
			}
			want := ""
			if tt.wantPrint {
				want = "manager " + Version + " (commit " + Commit() + ")\n"
			}
			if out.String() != want {
				t.Errorf("printed %q, want %q", out.String(), want)
			}
			if wantExit := map[bool]int{true: 0, false: -1}[tt.wantPrint]; exited != wantExit {
				t.Errorf("exit code %d, want %d", exited, wantExit)
			}
		})
	}
}
