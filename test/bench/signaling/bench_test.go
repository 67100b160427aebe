package main

import (
	"os"
	"testing"
)

func TestMemoryReadsProcStatus(t *testing.T) {
	s := &Server{pid: os.Getpid()}
	m, err := s.Memory()
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS <= 0 || m.HWM < m.RSS {
		t.Fatalf("memory %+v: want 0 < RSS <= HWM", m)
	}
}

func TestPSSReadsSmapsRollup(t *testing.T) {
	s := &Server{pid: os.Getpid()}
	pss, err := s.PSS()
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.Memory()
	if err != nil {
		t.Fatal(err)
	}
	if pss <= 0 || pss > m.HWM {
		t.Fatalf("PSS %d: want 0 < PSS <= VmHWM %d", pss, m.HWM)
	}
}
