package snmp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/gosnmp/gosnmp"
)

const (
	// maxWalkVarbinds bounds one poll's walk, so a broken agent cannot keep us walking.
	maxWalkVarbinds = 200_000
	// bulkVarbinds is about how many varbinds one GETBULK asks for: several columns are
	// walked side by side, columns × max-repetitions ≈ bulkVarbinds.
	bulkVarbinds = 100
	// maxColumnsPerRequest bounds the columns of one request.
	maxColumnsPerRequest = 16
)

// errWalkBound is returned when a walk reached maxWalkVarbinds.
var errWalkBound = errors.New("walk exceeded the varbind bound")

// requester is the part of *gosnmp.GoSNMP a walk uses.
type requester interface {
	GetBulk(oids []string, nonRepeaters uint8, maxRepetitions uint32) (*gosnmp.SnmpPacket, error)
	GetNext(oids []string) (*gosnmp.SnmpPacket, error)
}

// walkResult reports how a walk went.
type walkResult struct {
	varbinds int
	requests int
	short    uint64 // bit c: the walk of column c ended early (tooBig at 1 repetition, genErr, …)
	reps     uint32 // the max-repetitions the walk finished with (lowered after timeouts)
}

// colWalk is the state of one column's walk.
type colWalk struct {
	col    column
	prefix string // the column's OID and a dot
	last   string // the last OID seen, where the next request starts
	done   bool
	short  bool
}

// walker walks table columns side by side with GETBULK (GETNEXT for SNMPv1). It checks what
// comes back instead of trusting the agent: an error status ends only the column it names
// (or all of the request's columns), OIDs must increase within a column, the number of
// varbinds is bounded, and a request that times out is retried at a lower max-repetitions.
type walker struct {
	req   requester
	v1    bool
	reps  uint32
	limit int // varbinds; maxWalkVarbinds when 0

	// reused between walks
	cols   []colWalk
	active []int
	oids   []string
}

// lowerReps is the next step down for a device that times out on bulk requests:
// 25 → 10 → 5, and 0 when there is none.
func lowerReps(r uint32) uint32 {
	switch {
	case r > 10:
		return 10
	case r > 5:
		return 5
	}
	return 0
}

// isTimeout says whether a request failed for want of an answer.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, gosnmp.ErrMaxRetriesExceeded) || (errors.As(err, &ne) && ne.Timeout()) ||
		strings.Contains(err.Error(), "timeout")
}

// walk walks cols and calls fn for each varbind with the index part of its OID.
func (w *walker) walk(ctx context.Context, cols []column, fn func(c column, idx string, v *gosnmp.SnmpPDU)) (walkResult, error) {
	res := walkResult{reps: w.reps}
	if res.reps == 0 {
		res.reps = 25
	}
	limit := w.limit
	if limit == 0 {
		limit = maxWalkVarbinds
	}
	w.cols = w.cols[:0]
	for _, c := range cols {
		oid := columnOIDs[c]
		w.cols = append(w.cols, colWalk{col: c, prefix: oid + ".", last: oid})
	}
	next := 0 // the next column to start
	w.active = w.active[:0]
	perReq := 0
	oneRep := false // retry a request at one repetition to find the column an error is about
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if perReq == 0 {
			perReq = max(1, min(maxColumnsPerRequest, bulkVarbinds/int(res.reps)))
			if w.v1 {
				perReq = maxColumnsPerRequest
			}
		}
		for len(w.active) < perReq && next < len(w.cols) {
			if !w.cols[next].done {
				w.active = append(w.active, next)
			}
			next++
		}
		if len(w.active) == 0 {
			return res, nil
		}
		w.oids = w.oids[:0]
		for _, a := range w.active {
			w.oids = append(w.oids, w.cols[a].last)
		}

		var resp *gosnmp.SnmpPacket
		var err error
		if w.v1 {
			resp, err = w.req.GetNext(w.oids)
		} else if oneRep {
			resp, err = w.req.GetBulk(w.oids, 0, 1)
		} else {
			resp, err = w.req.GetBulk(w.oids, 0, res.reps)
		}
		wide := !w.v1 && !oneRep && res.reps > 1
		oneRep = false
		res.requests++
		if err != nil {
			if ctx.Err() == nil && isTimeout(err) && !w.v1 {
				if lower := lowerReps(res.reps); lower > 0 {
					res.reps, perReq = lower, 0
					// Fewer columns per request too: give the active ones back.
					next = w.requeue(next)
					continue
				}
			}
			return res, fmt.Errorf("walk %s: %w", w.cols[w.active[0]].col, err)
		}

		switch resp.Error {
		case gosnmp.NoError:
		case gosnmp.TooBig:
			// The answer did not fit: ask for less, down to one column at one repetition.
			switch {
			case len(w.active) > 1:
				perReq = max(1, len(w.active)/2)
				next = w.requeue(next)
			case res.reps > 1:
				res.reps = max(1, res.reps/2)
			default:
				w.endActive(&res, true)
			}
			continue
		case gosnmp.NoSuchName:
			// SNMPv1's end of a column: the error index names the varbind.
			if i := int(resp.ErrorIndex); w.v1 && i >= 1 && i <= len(w.active) {
				w.cols[w.active[i-1]].done = true
				w.compact()
				continue
			}
			w.endActive(&res, true)
			continue
		default:
			// genErr and the like. At several repetitions the varbind named may be a column
			// that ran past its end into a broken one: ask again at one repetition, where the
			// error names the column whose next object is broken. Then drop that column, or
			// all of them when the agent names none.
			if i := int(resp.ErrorIndex); i >= 1 && i <= len(w.active) && wide {
				oneRep = true
				continue
			}
			if i := int(resp.ErrorIndex); i >= 1 && i <= len(w.active) {
				c := &w.cols[w.active[i-1]]
				c.done, c.short = true, true
				res.short |= 1 << c.col
				w.compact()
				continue
			}
			w.endActive(&res, true)
			continue
		}

		n := len(w.active)
		progressed := false
		for i := range resp.Variables {
			v := &resp.Variables[i]
			c := &w.cols[w.active[i%n]]
			if c.done {
				continue
			}
			if v.Type == gosnmp.EndOfMibView || v.Type == gosnmp.NoSuchObject || v.Type == gosnmp.NoSuchInstance ||
				!strings.HasPrefix(v.Name, c.prefix) {
				c.done, progressed = true, true
				continue
			}
			if compareOID(v.Name, c.last) <= 0 {
				c.done, c.short, progressed = true, true, true
				res.short |= 1 << c.col
				continue
			}
			c.last = v.Name
			progressed = true
			res.varbinds++
			if res.varbinds > limit {
				w.endActive(&res, true)
				for i := next; i < len(w.cols); i++ {
					res.short |= 1 << w.cols[i].col
				}
				return res, errWalkBound
			}
			fn(c.col, v.Name[len(c.prefix):], v)
		}
		if !progressed {
			// An empty answer without an error: nothing more to get from these columns.
			w.endActive(&res, true)
			continue
		}
		w.compact()
	}
}

// requeue gives the active columns back, to be started again in order; it returns the new
// next. Columns start in order and a started column is active or done, so every column from
// the first active one up to next is active or done.
func (w *walker) requeue(next int) int {
	if len(w.active) == 0 {
		return next
	}
	first := slices.Min(w.active)
	w.active = w.active[:0]
	return first
}

// compact drops finished columns from the active set.
func (w *walker) compact() {
	out := w.active[:0]
	for _, a := range w.active {
		if !w.cols[a].done {
			out = append(out, a)
		}
	}
	w.active = out
}

// endActive ends every active column; short says they ended early.
func (w *walker) endActive(res *walkResult, short bool) {
	for _, a := range w.active {
		c := &w.cols[a]
		c.done = true
		if short {
			c.short = true
			res.short |= 1 << c.col
		}
	}
	w.active = w.active[:0]
}

// compareOID compares two dotted OIDs numerically, component by component.
func compareOID(a, b string) int {
	for {
		a = strings.TrimPrefix(a, ".")
		b = strings.TrimPrefix(b, ".")
		switch {
		case a == "" && b == "":
			return 0
		case a == "":
			return -1
		case b == "":
			return 1
		}
		ia := strings.IndexByte(a, '.')
		if ia < 0 {
			ia = len(a)
		}
		ib := strings.IndexByte(b, '.')
		if ib < 0 {
			ib = len(b)
		}
		// Numeric order: a shorter component (without leading zeros) is smaller.
		if ia != ib {
			if ia < ib {
				return -1
			}
			return 1
		}
		if c := strings.Compare(a[:ia], b[:ib]); c != 0 {
			return c
		}
		a, b = a[ia:], b[ib:]
	}
}
