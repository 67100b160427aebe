// Package version is the one source of the product's version: the VERSION
// file next to it, embedded into every binary, and the commit the binary
// was built from. `make images` tags the images with the same VERSION and
// stamps the commit (and a release build its version, see stamped):
//
//	go build -ldflags "-X github.com/sprechzimmer/sprechzimmer/internal/version.commit=$(git rev-parse HEAD)"
//
// An unstamped build falls back to the revision the Go toolchain recorded
// (vcs.revision, when built inside a git checkout with -buildvcs), else
// "unknown".
package version

import (
	_ "embed" // VERSION
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

//go:embed VERSION
var file string

// stamped is set at link time by a release build (make release
// VERSION=vX.Y.Z: -ldflags "-X .../internal/version.stamped=vX.Y.Z"), so
// that its binaries carry the release's version; empty: the VERSION file.
var stamped string

// Version is the product's version, e.g. v0.1.0: the tag of its images.
var Version = versionOf(stamped, file)

// versionOf prefers the stamped version over the embedded file's.
func versionOf(stamped, file string) string {
	if stamped != "" {
		return stamped
	}
	return strings.TrimSpace(file)
}

// Repository is where the product's images live: every image is
// Repository/<name>:Version (manager, signaling, frontdoor, turn, pause).
const Repository = "ghcr.io/sprechzimmer"

// Image is the reference of the product's image name at this version, e.g.
// ghcr.io/sprechzimmer/signaling:v0.1.0.
func Image(name string) string {
	return Repository + "/" + name + ":" + Version
}

// commit is set at link time with -ldflags -X (see the package doc).
var commit string

// Commit is the commit the binary was built from, "-dirty" appended when
// the toolchain saw uncommitted changes, or "unknown".
func Commit() string {
	info, _ := debug.ReadBuildInfo()
	return commitOf(commit, info)
}

// commitOf prefers the stamped commit, then the toolchain's vcs settings.
func commitOf(stamped string, info *debug.BuildInfo) string {
	if stamped != "" {
		return stamped
	}
	if info == nil {
		return "unknown"
	}
	var revision, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if revision == "" {
		return "unknown"
	}
	if modified == "true" {
		revision += "-dirty"
	}
	return revision
}

// String is the line --version prints: name, version and commit.
func String(name string) string {
	return fmt.Sprintf("%s %s (commit %s)", name, Version, Commit())
}

// AddFlag registers --version on fs. Given, it prints String(name) to
// stdout and exits 0 while the flags are parsed, before any other flag is
// checked or required.
func AddFlag(fs *flag.FlagSet, name string) {
	fs.Var(&printFlag{name: name, out: os.Stdout, exit: os.Exit}, "version", "Print the name, version and commit, then exit.")
}

// printFlag is a boolean flag whose Set prints the version and exits.
type printFlag struct {
	name string
	out  io.Writer
	exit func(int)
}

// IsBoolFlag lets the flag be given without a value.
func (*printFlag) IsBoolFlag() bool { return true }

// String is the default shown in -help.
func (*printFlag) String() string { return "false" }

// Set prints and exits when the value is true.
func (f *printFlag) Set(v string) error {
	on, err := strconv.ParseBool(v)
	if err != nil {
		return err
	}
	if on {
		_, _ = fmt.Fprintln(f.out, String(f.name))
		f.exit(0)
	}
	return nil
}
