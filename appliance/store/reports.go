package store

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Reports: the monthly reports the scheduler (and, later, the console) generated, kept with
// their files so that what was sent can be produced again byte for byte.
//
//	reports       uint64 sequence → JSON of ReportMeta
//	report_files  uint64 sequence, format ("pdf", "html") → the file
//
// The buckets are made by the first PutReport. Retention does not delete reports: they are
// the record of what leadership was told (a few hundred KB a month).

var (
	bReports     = []byte("reports")
	bReportFiles = []byte("report_files")
)

// maxReportFile bounds one stored report file.
const maxReportFile = 64 << 20

// ReportMeta describes one stored report.
type ReportMeta struct {
	ID        uint64    `json:"id"`    // assigned by PutReport
	Site      string    `json:"site"`  // "" for all sites
	Month     string    `json:"month"` // "2026-10"
	TimeZone  string    `json:"time_zone"`
	Generated time.Time `json:"generated"`
	Trigger   string    `json:"trigger"`          // "schedule", "on-demand", …
	Formats   []string  `json:"formats"`          // the files stored: "pdf", "html"
	Sizes     []int     `json:"sizes"`            // their sizes, in the order of Formats
	Mailed    []string  `json:"mailed,omitempty"` // recipients the PDF was sent to
	MailError string    `json:"mail_error,omitempty"`
}

func reportFileKey(id uint64, format string) []byte {
	return append(u64(id), format...)
}

// PutReport stores a report's files (format → bytes) and its description, assigning and
// returning its ID. It is durable when it returns.
func (s *Store) PutReport(meta ReportMeta, files map[string][]byte) (uint64, error) {
	meta.Formats, meta.Sizes = meta.Formats[:0:0], meta.Sizes[:0:0]
	for _, f := range []string{"pdf", "html"} {
		b, ok := files[f]
		if !ok {
			continue
		}
		if len(b) > maxReportFile {
			return 0, fmt.Errorf("store: put report: %w: %s file of %d bytes (at most %d)", ErrInvalid, f, len(b), maxReportFile)
		}
		meta.Formats = append(meta.Formats, f)
		meta.Sizes = append(meta.Sizes, len(b))
	}
	if len(meta.Formats) != len(files) {
		return 0, fmt.Errorf("store: put report: %w: formats must be pdf or html", ErrInvalid)
	}
	err := s.update(func(tx *bolt.Tx) error {
		rb, err := tx.CreateBucketIfNotExists(bReports)
		if err != nil {
			return err
		}
		fb, err := tx.CreateBucketIfNotExists(bReportFiles)
		if err != nil {
			return err
		}
		id, err := rb.NextSequence()
		if err != nil {
			return err
		}
		meta.ID = id
		v, err := json.Marshal(&meta)
		if err != nil {
			return err
		}
		if err := rb.Put(u64(id), v); err != nil {
			return err
		}
		for _, f := range meta.Formats {
			if err := fb.Put(reportFileKey(id, f), files[f]); err != nil {
				return err
			}
		}
		s.size.Store(tx.Size())
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: put report: %w", err)
	}
	return meta.ID, nil
}

// SetReportMail records on a stored report whom it was mailed to, or why mailing failed.
func (s *Store) SetReportMail(id uint64, mailed []string, mailErr string) error {
	err := s.update(func(tx *bolt.Tx) error {
		rb := tx.Bucket(bReports)
		var v []byte
		if rb != nil {
			v = rb.Get(u64(id))
		}
		if v == nil {
			return fmt.Errorf("%w: no report %d", ErrInvalid, id)
		}
		var m ReportMeta
		if err := json.Unmarshal(v, &m); err != nil {
			return fmt.Errorf("report %d: %w: %w", id, ErrCorrupt, err)
		}
		m.Mailed, m.MailError = mailed, mailErr
		nv, err := json.Marshal(&m)
		if err != nil {
			return err
		}
		return rb.Put(u64(id), nv)
	})
	if err != nil {
		return fmt.Errorf("store: report %d: %w", id, err)
	}
	return nil
}

// Reports lists the stored reports, newest first.
func (s *Store) Reports() ([]ReportMeta, error) {
	out := []ReportMeta{}
	err := s.view(func(tx *bolt.Tx) error {
		rb := tx.Bucket(bReports)
		if rb == nil {
			return nil
		}
		c := rb.Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			var m ReportMeta
			if err := json.Unmarshal(v, &m); err != nil {
				return fmt.Errorf("report %d: %w: %w", bigEndian(k), ErrCorrupt, err)
			}
			out = append(out, m)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: reports: %w", err)
	}
	return out, nil
}

// ReportFile returns one stored file of a report; ok is false when there is none.
func (s *Store) ReportFile(id uint64, format string) (b []byte, ok bool, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		fb := tx.Bucket(bReportFiles)
		if fb == nil {
			return nil
		}
		if v := fb.Get(reportFileKey(id, format)); v != nil {
			b, ok = append([]byte(nil), v...), true
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("store: report %d %s: %w", id, format, err)
	}
	return b, ok, nil
}
