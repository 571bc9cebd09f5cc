package main

import (
	"bufio"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// tuneGC sets the garbage collector for the flow path, unless GOGC or GOMEMLIMIT say
// otherwise. goflow2's decoders allocate some 16 short-lived objects per NetFlow/IPFIX
// record; at a million records a second the default GOGC=100 spends most of a core
// collecting them. GOGC=400 collects a quarter as often for a heap that peaks at five times
// the live one (tens of MB here); a soft memory limit of half the machine's RAM makes the
// collector work harder, rather than the heap grow, should the live data ever get large.
// Measured with the flow load test (BENCHMARKS.md).
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		if total := memTotal(); total > 0 {
			debug.SetMemoryLimit(total / 2)
		}
	}
}

// memTotal is MemTotal from /proc/meminfo in bytes, 0 when unknown.
func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
