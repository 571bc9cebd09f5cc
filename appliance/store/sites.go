package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/watchfloor/watchfloor"
	bolt "go.etcd.io/bbolt"
)

// Sites: what central (appliance/central) keeps of the appliances that send it their
// records, written by Write in the same transaction as the records themselves
// (Batch.SiteAlerts, Batch.SiteHealth, Batch.Marks), so that the uplink's sequence state
// never disagrees with what was stored.
//
//	site_index           site name → uint32: the site's small number, assigned once (the
//	                     bucket's sequence is the last assigned) and never changed
//	site_alerts          uint32 site, uint64 alert ID → uint64 UpdatedAt key time, JSON of
//	                     watchfloor.Alert: the appliances' alerts, upserted by site and ID
//	site_alerts_open     uint32 site, uint64 alert ID → empty: the ones not resolved
//	site_alerts_updated  uint64 UpdatedAt key time, uint32 site, uint64 alert ID → empty:
//	                     the alerts by their last change, for newest-first reads and retention
//	site_health          site name → int64 unix nanoseconds, the site's JSON health record
//	uplink_marks         site NUL kind → sequence mark (encodeMark)
//
// A key time is unix nanoseconds, clamped to [0, MaxInt64] (1970 to 2262).
//
// Retention deletes resolved site alerts once they have been resolved longer than
// Retention.Alerts (the alert retention; counted as kind "alert"), walking
// site_alerts_updated from the oldest; open ones are never deleted. Health records and marks are one per site (and kind) and kept.
//
// The buckets are created at open like every other, so an older store gains them; reads of
// a read-only older store without them find nothing.

var (
	bSiteIndex         = []byte("site_index")
	bSiteAlerts        = []byte("site_alerts")
	bSiteAlertsOpen    = []byte("site_alerts_open")
	bSiteAlertsUpdated = []byte("site_alerts_updated")
	bSiteHealth        = []byte("site_health")
	bUplinkMarks       = []byte("uplink_marks")
)

// Bounds of the site records.
const (
	maxSiteName     = 63
	maxMarkKind     = 32
	MaxMarkSeen     = 1 << 20 // sequences a mark may hold above Next
	MaxSiteHealth   = 64 << 10
	maxSiteAlertLen = 1 << 20 // an encoded alert (the uplink's records are at most 1 MiB)

	DefaultSiteAlertLimit = 1000
	MaxSiteAlertLimit     = 10_000
)

// SiteHealth is the latest health record of one site.
type SiteHealth struct {
	Site string
	Time time.Time
	Data []byte // the site's JSON health record (uplink.Health), at most 64 KiB
}

// UplinkMark is central's sequence state of one site and kind.
type UplinkMark struct {
	Site  string
	Kind  string
	Epoch uint64
	Next  uint64   // the lowest sequence not yet taken (all below were taken or counted as gaps)
	Seen  []uint64 // sequences taken above Next, ascending; bounded by central's reorder window
	// Blind is the first sequence central saw of the epoch when it did not see it begin
	// (0 or 1 when it did): a sequence below it that never comes is not counted as a gap.
	Blind                      uint64
	Received, Duplicates, Gaps uint64 // totals since the epoch began, so the wall's figures survive restarts
	LastSeen                   time.Time
}

// SiteAlertQuery selects appliances' alerts.
type SiteAlertQuery struct {
	Site     string    // "": every site
	OpenOnly bool      // only the ones not resolved
	Since    time.Time // UpdatedAt at or after; zero: any
	Limit    int       // 0: DefaultSiteAlertLimit; at most MaxSiteAlertLimit
}

// checkSiteName says what is wrong with a site name, or "": a DNS label in lower case, as
// appliance/uplink.CheckSite (which the store cannot import: uplink imports the store).
func checkSiteName(s string) string {
	if s == "" || len(s) > maxSiteName {
		return fmt.Sprintf("site %q: must have 1 to %d bytes", s, maxSiteName)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Sprintf("site %q: only a-z, 0-9 and '-'", s)
		}
	}
	return ""
}

// keyTime is t as a key: unix nanoseconds clamped to [0, MaxInt64].
func keyTime(t time.Time) uint64 {
	switch {
	case t.Unix() < 0:
		return 0
	case t.Unix() >= math.MaxInt64/int64(time.Second):
		return math.MaxInt64
	}
	return uint64(t.UnixNano())
}

// nanoTime is the time of unix nanoseconds n; 0 is the zero time.
func nanoTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// timeNano is t in unix nanoseconds; the zero time (and anything before 1970) is 0.
func timeNano(t time.Time) int64 { return int64(keyTime(t)) }

// preparedSites is a Batch's site records, checked and encoded by the writer.
type preparedSites struct {
	alerts [][]byte // one per Batch.SiteAlerts: key time, JSON
	health [][]byte // one per Batch.SiteHealth: time, data
	marks  [][]byte // one per Batch.Marks
}

func prepareSites(b *Batch) (*preparedSites, error) {
	if len(b.SiteAlerts)+len(b.SiteHealth)+len(b.Marks) == 0 {
		return nil, nil
	}
	p := &preparedSites{
		alerts: make([][]byte, len(b.SiteAlerts)),
		health: make([][]byte, len(b.SiteHealth)),
		marks:  make([][]byte, len(b.Marks)),
	}
	for i := range b.SiteAlerts {
		a := &b.SiteAlerts[i]
		if msg := checkSiteName(a.Entity.Site); msg != "" {
			return nil, fmt.Errorf("%w: site alert %d: %s", ErrInvalid, i, msg)
		}
		if a.ID == 0 {
			return nil, fmt.Errorf("%w: site alert %d (%s): ID 0", ErrInvalid, i, a.Entity.Site)
		}
		if a.State < watchfloor.AlertFiring || a.State > watchfloor.AlertResolved {
			return nil, fmt.Errorf("%w: site alert %s/%d: state %d", ErrInvalid, a.Entity.Site, a.ID, a.State)
		}
		v, err := json.Marshal(a)
		if err != nil {
			return nil, fmt.Errorf("%w: site alert %s/%d: %w", ErrInvalid, a.Entity.Site, a.ID, err)
		}
		if len(v) > maxSiteAlertLen {
			return nil, fmt.Errorf("%w: site alert %s/%d: %d bytes, more than %d", ErrInvalid, a.Entity.Site, a.ID, len(v), maxSiteAlertLen)
		}
		p.alerts[i] = append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(v)), keyTime(a.UpdatedAt)), v...)
	}
	for i := range b.SiteHealth {
		h := &b.SiteHealth[i]
		if msg := checkSiteName(h.Site); msg != "" {
			return nil, fmt.Errorf("%w: site health %d: %s", ErrInvalid, i, msg)
		}
		if len(h.Data) > MaxSiteHealth {
			return nil, fmt.Errorf("%w: site health %s: %d bytes, more than %d", ErrInvalid, h.Site, len(h.Data), MaxSiteHealth)
		}
		p.health[i] = append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(h.Data)), uint64(timeNano(h.Time))), h.Data...)
	}
	for i := range b.Marks {
		m := &b.Marks[i]
		if msg := markProblem(m); msg != "" {
			return nil, fmt.Errorf("%w: mark %d (%s/%s): %s", ErrInvalid, i, m.Site, m.Kind, msg)
		}
		p.marks[i] = encodeMark(m)
	}
	return p, nil
}

func markProblem(m *UplinkMark) string {
	if msg := checkSiteName(m.Site); msg != "" {
		return msg
	}
	if m.Kind == "" || len(m.Kind) > maxMarkKind || strings.IndexByte(m.Kind, 0) >= 0 {
		return fmt.Sprintf("kind must have 1 to %d bytes, no NUL", maxMarkKind)
	}
	if len(m.Seen) > MaxMarkSeen {
		return fmt.Sprintf("%d sequences seen ahead, more than %d", len(m.Seen), MaxMarkSeen)
	}
	prev := m.Next
	for i, s := range m.Seen {
		if s <= prev {
			if i == 0 {
				return fmt.Sprintf("seen %d not above next %d", s, m.Next)
			}
			return fmt.Sprintf("seen not ascending at %d (%d after %d)", i, s, prev)
		}
		prev = s
	}
	return ""
}

// markKey is the key of a mark: site NUL kind.
func markKey(site, kind string) []byte {
	k := make([]byte, 0, len(site)+1+len(kind))
	return append(append(append(k, site...), 0), kind...)
}

// markVersion is the first byte of a mark.
const markVersion = 1

// markHeader is the fixed part of a mark after its version byte: Epoch, Next, Blind,
// Received, Duplicates, Gaps (uint64 each) and LastSeen (int64 unix nanoseconds, 0: zero).
const markHeader = 1 + 7*8

// encodeMark encodes m (checked by markProblem):
//
//	[0]       version (1)
//	[1:57]    the header (markHeader)
//	then a uvarint count of runs of consecutive sequences in Seen, and each run as two
//	uvarints: its first sequence minus the end of the previous run (Next for the first;
//	at least 1), and its length minus one.
//
// Seen is usually empty or a few runs, however many sequences it holds.
func encodeMark(m *UplinkMark) []byte {
	b := make([]byte, markHeader, markHeader+16)
	b[0] = markVersion
	for i, v := range [...]uint64{m.Epoch, m.Next, m.Blind, m.Received, m.Duplicates, m.Gaps, uint64(timeNano(m.LastSeen))} {
		binary.BigEndian.PutUint64(b[1+8*i:], v)
	}
	type run struct{ lo, hi uint64 }
	var runs []run
	for _, s := range m.Seen {
		if n := len(runs); n > 0 && runs[n-1].hi+1 == s {
			runs[n-1].hi = s
			continue
		}
		runs = append(runs, run{s, s})
	}
	b = binary.AppendUvarint(b, uint64(len(runs)))
	end := m.Next
	for _, r := range runs {
		b = binary.AppendUvarint(b, r.lo-end)
		b = binary.AppendUvarint(b, r.hi-r.lo)
		end = r.hi
	}
	return b
}

// decodeMark decodes a mark stored under key. It never panics, and allocates at most
// MaxMarkSeen sequences, whatever v holds.
func decodeMark(key, v []byte) (UplinkMark, error) {
	var m UplinkMark
	site, kind, ok := bytes.Cut(key, []byte{0})
	if !ok {
		return m, fmt.Errorf("mark %q: %w: key without a kind", key, ErrCorrupt)
	}
	m.Site, m.Kind = string(site), string(kind)
	bad := func(why string) (UplinkMark, error) {
		return UplinkMark{}, fmt.Errorf("mark %s/%s: %w: %s", m.Site, m.Kind, ErrCorrupt, why)
	}
	if len(v) < markHeader {
		return bad("too short")
	}
	if v[0] != markVersion {
		return bad(fmt.Sprintf("version %d", v[0]))
	}
	var h [7]uint64
	for i := range h {
		h[i] = binary.BigEndian.Uint64(v[1+8*i:])
	}
	m.Epoch, m.Next, m.Blind, m.Received, m.Duplicates, m.Gaps = h[0], h[1], h[2], h[3], h[4], h[5]
	if h[6] > math.MaxInt64 {
		return bad("last seen out of range")
	}
	m.LastSeen = nanoTime(int64(h[6]))
	rest := v[markHeader:]
	runs, n := binary.Uvarint(rest)
	if n <= 0 {
		return bad("run count")
	}
	rest = rest[n:]
	if runs > MaxMarkSeen || runs > uint64(len(rest))/2 {
		return bad("run count out of range")
	}
	end := m.Next
	for range runs {
		gap, n := binary.Uvarint(rest)
		if n <= 0 {
			return bad("run start")
		}
		rest = rest[n:]
		length, n := binary.Uvarint(rest)
		if n <= 0 {
			return bad("run length")
		}
		rest = rest[n:]
		if gap == 0 || gap > math.MaxUint64-end || length >= MaxMarkSeen ||
			uint64(len(m.Seen))+length+1 > MaxMarkSeen || length > math.MaxUint64-(end+gap) {
			return bad("run out of range")
		}
		lo := end + gap
		for j := uint64(0); j <= length; j++ {
			m.Seen = append(m.Seen, lo+j)
		}
		end = lo + length
	}
	if len(rest) != 0 {
		return bad("trailing bytes")
	}
	return m, nil
}

// siteIndex returns the number of site, assigning the next one if it has none.
func siteIndex(tx *bolt.Tx, site string) (uint32, error) {
	b := tx.Bucket(bSiteIndex)
	if v := b.Get([]byte(site)); v != nil {
		if len(v) != 4 {
			return 0, fmt.Errorf("site index of %q: %w: %d bytes", site, ErrCorrupt, len(v))
		}
		return binary.BigEndian.Uint32(v), nil
	}
	n, err := b.NextSequence()
	if err != nil {
		return 0, err
	}
	if n > math.MaxUint32 {
		return 0, fmt.Errorf("site index of %q: more than %d sites", site, uint32(math.MaxUint32))
	}
	if err := b.Put([]byte(site), binary.BigEndian.AppendUint32(nil, uint32(n))); err != nil {
		return 0, err
	}
	return uint32(n), nil
}

// siteAlertKey is site, ID.
func siteAlertKey(site uint32, id uint64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(make([]byte, 0, 12), site), id)
}

// putSites writes a batch's site records in tx.
func putSites(tx *bolt.Tx, b *Batch, p *preparedSites) error {
	if p == nil {
		return nil
	}
	ab, ob, ub := tx.Bucket(bSiteAlerts), tx.Bucket(bSiteAlertsOpen), tx.Bucket(bSiteAlertsUpdated)
	for i := range b.SiteAlerts {
		a := &b.SiteAlerts[i]
		idx, err := siteIndex(tx, a.Entity.Site)
		if err != nil {
			return fmt.Errorf("site alert %s/%d: %w", a.Entity.Site, a.ID, err)
		}
		k := siteAlertKey(idx, a.ID)
		if old := ab.Get(k); len(old) >= 8 {
			if err := ub.Delete(append(bytes.Clone(old[:8]), k...)); err != nil {
				return fmt.Errorf("site alert %s/%d: %w", a.Entity.Site, a.ID, err)
			}
		}
		v := p.alerts[i]
		if err := ab.Put(k, v); err != nil {
			return fmt.Errorf("site alert %s/%d: %w", a.Entity.Site, a.ID, err)
		}
		if err := ub.Put(append(bytes.Clone(v[:8]), k...), nil); err != nil {
			return fmt.Errorf("site alert %s/%d: %w", a.Entity.Site, a.ID, err)
		}
		if a.State == watchfloor.AlertResolved {
			err = ob.Delete(k)
		} else {
			err = ob.Put(k, nil)
		}
		if err != nil {
			return fmt.Errorf("site alert %s/%d: open index: %w", a.Entity.Site, a.ID, err)
		}
	}
	hb := tx.Bucket(bSiteHealth)
	for i := range b.SiteHealth {
		h := &b.SiteHealth[i]
		if _, err := siteIndex(tx, h.Site); err != nil {
			return fmt.Errorf("site health %s: %w", h.Site, err)
		}
		if err := hb.Put([]byte(h.Site), p.health[i]); err != nil {
			return fmt.Errorf("site health %s: %w", h.Site, err)
		}
	}
	mb := tx.Bucket(bUplinkMarks)
	for i := range b.Marks {
		m := &b.Marks[i]
		if _, err := siteIndex(tx, m.Site); err != nil {
			return fmt.Errorf("mark %s/%s: %w", m.Site, m.Kind, err)
		}
		if err := mb.Put(markKey(m.Site, m.Kind), p.marks[i]); err != nil {
			return fmt.Errorf("mark %s/%s: %w", m.Site, m.Kind, err)
		}
	}
	return nil
}

// decodeSiteAlert decodes a site_alerts value: the key time and the alert.
func decodeSiteAlert(k, v []byte) (uint64, watchfloor.Alert, error) {
	var a watchfloor.Alert
	if len(v) < 8 {
		return 0, a, fmt.Errorf("site alert %x: %w: too short", k, ErrCorrupt)
	}
	if err := json.Unmarshal(v[8:], &a); err != nil {
		return 0, a, fmt.Errorf("site alert %x: %w: %w", k, ErrCorrupt, err)
	}
	return binary.BigEndian.Uint64(v), a, nil
}

// decodeSiteHealth decodes a site_health value.
func decodeSiteHealth(k, v []byte) (SiteHealth, error) {
	if len(v) < 8 || len(v)-8 > MaxSiteHealth {
		return SiteHealth{}, fmt.Errorf("site health %q: %w: %d bytes", k, ErrCorrupt, len(v))
	}
	n := binary.BigEndian.Uint64(v)
	if n > math.MaxInt64 {
		return SiteHealth{}, fmt.Errorf("site health %q: %w: time out of range", k, ErrCorrupt)
	}
	return SiteHealth{Site: string(k), Time: nanoTime(int64(n)), Data: bytes.Clone(v[8:])}, nil
}

// siteIndexOf looks up a site's number in tx; ok is false when it has none.
func siteIndexOf(tx *bolt.Tx, site string) (uint32, bool, error) {
	b := tx.Bucket(bSiteIndex)
	if b == nil {
		return 0, false, nil
	}
	v := b.Get([]byte(site))
	if v == nil {
		return 0, false, nil
	}
	if len(v) != 4 {
		return 0, false, fmt.Errorf("site index of %q: %w: %d bytes", site, ErrCorrupt, len(v))
	}
	return binary.BigEndian.Uint32(v), true, nil
}

// SiteAlerts returns the appliances' alerts q selects, newest UpdatedAt first. It decodes
// at most 200000 alerts to find them.
func (s *Store) SiteAlerts(q SiteAlertQuery) ([]watchfloor.Alert, error) {
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = DefaultSiteAlertLimit
	case limit > MaxSiteAlertLimit:
		limit = MaxSiteAlertLimit
	}
	since := keyTime(q.Since)
	out := []watchfloor.Alert{}
	err := s.view(func(tx *bolt.Tx) error {
		ab, ob, ub := tx.Bucket(bSiteAlerts), tx.Bucket(bSiteAlertsOpen), tx.Bucket(bSiteAlertsUpdated)
		if ab == nil || ob == nil || ub == nil {
			return nil
		}
		var prefix []byte
		if q.Site != "" {
			idx, ok, err := siteIndexOf(tx, q.Site)
			if err != nil || !ok {
				return err
			}
			prefix = binary.BigEndian.AppendUint32(nil, idx)
		}
		if q.OpenOnly {
			// The open ones are few (the appliances' managers bound them): all of them,
			// sorted.
			type found struct {
				t uint64
				k []byte
				a watchfloor.Alert
			}
			var all []found
			c := ob.Cursor()
			k, _ := c.First()
			if prefix != nil {
				k, _ = c.Seek(prefix)
			}
			for scanned := 0; k != nil && bytes.HasPrefix(k, prefix) && scanned < maxAlertScan; k, _ = c.Next() {
				scanned++
				v := ab.Get(k)
				if v == nil {
					return fmt.Errorf("site alert %x: %w: in the open index but not stored", k, ErrCorrupt)
				}
				t, a, err := decodeSiteAlert(k, v)
				if err != nil {
					return err
				}
				if t >= since {
					all = append(all, found{t, bytes.Clone(k), a})
				}
			}
			slices.SortFunc(all, func(x, y found) int {
				if x.t != y.t {
					if x.t > y.t {
						return -1
					}
					return 1
				}
				return -bytes.Compare(x.k, y.k)
			})
			for _, f := range all[:min(len(all), limit)] {
				out = append(out, f.a)
			}
			return nil
		}
		c := ub.Cursor()
		for k, _ := c.Last(); k != nil && len(out) < limit; k, _ = c.Prev() {
			if len(k) != 20 {
				return fmt.Errorf("site alert index %x: %w", k, ErrCorrupt)
			}
			if binary.BigEndian.Uint64(k) < since {
				break
			}
			ak := k[8:]
			if prefix != nil && !bytes.HasPrefix(ak, prefix) {
				continue
			}
			v := ab.Get(ak)
			if v == nil {
				continue // an index entry of a deleted alert; retention removes it
			}
			_, a, err := decodeSiteAlert(ak, v)
			if err != nil {
				return err
			}
			out = append(out, a)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: site alerts: %w", err)
	}
	return out, nil
}

// SiteAlert returns one appliance's alert by its site and appliance-local ID.
func (s *Store) SiteAlert(site string, id uint64) (watchfloor.Alert, bool, error) {
	var (
		a  watchfloor.Alert
		ok bool
	)
	err := s.view(func(tx *bolt.Tx) error {
		idx, known, err := siteIndexOf(tx, site)
		if err != nil || !known {
			return err
		}
		ab := tx.Bucket(bSiteAlerts)
		if ab == nil {
			return nil
		}
		k := siteAlertKey(idx, id)
		v := ab.Get(k)
		if v == nil {
			return nil
		}
		_, a, err = decodeSiteAlert(k, v)
		ok = err == nil
		return err
	})
	if err != nil {
		return watchfloor.Alert{}, false, fmt.Errorf("store: site alert %s/%d: %w", site, id, err)
	}
	return a, ok, nil
}

// SiteHealth returns the latest health record of every site, by site name.
func (s *Store) SiteHealth() ([]SiteHealth, error) {
	out := []SiteHealth{}
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bSiteHealth)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			h, err := decodeSiteHealth(k, v)
			if err != nil {
				return err
			}
			out = append(out, h)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: site health: %w", err)
	}
	return out, nil
}

// UplinkMarks returns central's sequence state of every site and kind, by site then kind.
func (s *Store) UplinkMarks() ([]UplinkMark, error) {
	out := []UplinkMark{}
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bUplinkMarks)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			m, err := decodeMark(k, v)
			if err != nil {
				return err
			}
			out = append(out, m)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: uplink marks: %w", err)
	}
	return out, nil
}

// SiteIndexes returns each site's small number, assigned once (from 1, in the write
// transaction that first names the site in SiteAlerts, SiteHealth or Marks) and never
// changed: central makes console IDs of appliances' alerts from it.
func (s *Store) SiteIndexes() (map[string]uint32, error) {
	out := map[string]uint32{}
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bSiteIndex)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if len(v) != 4 {
				return fmt.Errorf("site index of %q: %w: %d bytes", k, ErrCorrupt, len(v))
			}
			out[string(k)] = binary.BigEndian.Uint32(v)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: site indexes: %w", err)
	}
	return out, nil
}

// pruneSiteAlerts deletes the appliances' alerts resolved before cutoff, walking them from
// the oldest change, a chunk per transaction, up to the first changed at or after cutoff.
// Open ones are passed over (and kept).
func (s *Store) pruneSiteAlerts(ctx context.Context, cutoff time.Time) (int, error) {
	limit := keyTime(cutoff)
	return s.pruneResumable(ctx, "alert", bSiteAlertsUpdated, func(tx *bolt.Tx) prunePass {
		ab, ob, ub := tx.Bucket(bSiteAlerts), tx.Bucket(bSiteAlertsOpen), tx.Bucket(bSiteAlertsUpdated)
		var delIndex, delAlert [][]byte
		return prunePass{
			visit: func(k, _ []byte) (bool, error) {
				if len(k) != 20 {
					delIndex = append(delIndex, bytes.Clone(k)) // not an index key
					return false, nil
				}
				if binary.BigEndian.Uint64(k) >= limit {
					return true, nil
				}
				ak := k[8:]
				if ob.Get(ak) != nil {
					return false, nil // open
				}
				v := ab.Get(ak)
				if v == nil || len(v) < 8 || !bytes.Equal(v[:8], k[:8]) {
					delIndex = append(delIndex, bytes.Clone(k)) // stale
					return false, nil
				}
				_, a, err := decodeSiteAlert(ak, v)
				if err != nil {
					return false, err
				}
				if a.State == watchfloor.AlertResolved && a.ResolvedAt.Before(cutoff) {
					delIndex = append(delIndex, bytes.Clone(k))
					delAlert = append(delAlert, bytes.Clone(ak))
				}
				return false, nil
			},
			done: func() (int, error) {
				if err := deleteKeys(ub, delIndex); err != nil {
					return 0, err
				}
				return len(delAlert), deleteKeys(ab, delAlert)
			},
		}
	})
}
