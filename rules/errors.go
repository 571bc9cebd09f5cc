package rules

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/watchfloor/watchfloor/internal/yamlpos"
)

// Error is one problem of a rule, list or test file, positioned for a human: printed as
// `FILE:LINE:COL: FIELD: MSG`. Field is the YAML path of what is wrong
// (detection.selection.dst_ip|cidr, correlation.group-by[1]) or empty.
type Error = yamlpos.Error

// The YAML path and node words shared with the routing language.
var (
	join     = yamlpos.Join
	nodeDesc = yamlpos.Describe
)

// SortErrors orders errors by file, line, column, then text, and drops exact duplicates.
func SortErrors(errs []Error) []Error {
	slices.SortStableFunc(errs, func(a, b Error) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column),
			cmp.Compare(a.Field, b.Field), cmp.Compare(a.Msg, b.Msg))
	})
	return slices.Compact(errs)
}

// errs collects the problems of one file.
type errs struct {
	file string
	list []Error
}

func (e *errs) at(line, col int, field, format string, args ...any) {
	e.list = append(e.list, Error{File: e.file, Line: line, Column: col, Field: field, Msg: fmt.Sprintf(format, args...)})
}
