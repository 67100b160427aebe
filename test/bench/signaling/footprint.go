package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Footprint is what a room costs before anyone enters: the size of the
// binary the room's image holds and the memory of a room process that has
// just become ready.
type Footprint struct {
	// Binary is the size in bytes of cmd/signaling built as
	// hack/build-images.sh builds it (the image's only file).
	Binary int64
	// Gzipped is Binary compressed with gzip at the default level, about
	// what the image's layer weighs in a registry.
	Gzipped int64
	// RSS are the idle VmRSS of the started processes, in bytes, sorted.
	RSS []int64
	// PSS are their idle proportional set sizes (smaps_rollup Pss), sorted.
	PSS []int64
}

// BuildLikeImage compiles cmd/signaling of the module in src into dir the
// way hack/build-images.sh does (static, trimmed paths, no symbols) and
// returns the binary's path.
func BuildLikeImage(ctx context.Context, src, dir string) (string, error) {
	bin := filepath.Join(dir, "signaling")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w -buildid=", "-o", bin, "./cmd/signaling")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building cmd/signaling in %s: %w\n%s", src, err, out)
	}
	return bin, nil
}

// MeasureFootprint sizes bin and starts it runs times, one process at a
// time, reading each one's memory once it is ready.
func MeasureFootprint(ctx context.Context, bin string, runs int) (*Footprint, error) {
	raw, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	if _, err := zw.Write(raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	f := &Footprint{Binary: int64(len(raw)), Gzipped: int64(zipped.Len())}
	for range runs {
		s, err := Start(ctx, bin)
		if err != nil {
			return nil, err
		}
		m, merr := s.Memory()
		pss, perr := s.PSS()
		if err := s.Stop(); err != nil {
			return nil, err
		}
		if err := errors.Join(merr, perr); err != nil {
			return nil, err
		}
		f.RSS = append(f.RSS, m.RSS)
		f.PSS = append(f.PSS, pss)
	}
	sort.Slice(f.RSS, func(i, j int) bool { return f.RSS[i] < f.RSS[j] })
	sort.Slice(f.PSS, func(i, j int) bool { return f.PSS[i] < f.PSS[j] })
	return f, nil
}

// PSS reads the server process's proportional set size from
// /proc/<pid>/smaps_rollup: its resident pages, shared ones divided among
// the processes that share them.
func (s *Server) PSS() (int64, error) {
	return pssOf(fmt.Sprintf("/proc/%d/smaps_rollup", s.pid))
}

// pssOf reads the Pss line of an smaps_rollup file, in bytes.
func pssOf(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("reading smaps_rollup: %w", err)
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		value, ok := strings.CutPrefix(sc.Text(), "Pss:")
		if !ok {
			continue
		}
		kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parsing Pss: %w", err)
		}
		return kib << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("reading smaps_rollup: %w", err)
	}
	return 0, errors.New("smaps_rollup has no Pss line")
}

// WriteFootprintTable prints f as a Markdown table.
func WriteFootprintTable(w io.Writer, f *Footprint) error {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	row := func(cells ...string) { _, _ = fmt.Fprintln(tw, "| "+strings.Join(cells, "\t| ")+"\t|") }
	row("measure", "runs", "p50", "min", "max")
	row("---", "---", "---", "---", "---")
	row("binary (image's only file), bytes", "1", strconv.FormatInt(f.Binary, 10), "", "")
	row("binary gzipped (≈ image layer), bytes", "1", strconv.FormatInt(f.Gzipped, 10), "", "")
	sizes := func(name string, v []int64) {
		if len(v) == 0 {
			return
		}
		row(name, strconv.Itoa(len(v)), mib(v[len(v)/2]), mib(v[0]), mib(v[len(v)-1]))
	}
	sizes("idle RSS after ready (VmRSS)", f.RSS)
	sizes("idle PSS after ready (smaps_rollup)", f.PSS)
	return tw.Flush()
}
