package rules

import (
	"embed"
	"io/fs"
)

// The default detection pack (rules/pack): rule files, their lists and rule tests, embedded in
// the binary. pack/README.md lists the rules, their ATT&CK techniques and tuning knobs.
//
//go:embed pack
var packFS embed.FS

// Pack returns the default detection pack's files, rooted at the pack directory: rule files
// (*.yaml), lists.yaml, lists/*.txt, tests/*_test.yaml and README.md.
func Pack() fs.FS {
	sub, err := fs.Sub(packFS, "pack")
	if err != nil {
		panic(err) // "pack" is a valid path embedded at build time
	}
	return sub
}

// LoadPack loads the default pack as one set with its lists, as LoadDir loads a directory.
func LoadPack() (*Set, []Error) {
	fsys := Pack()
	lists, errs := LoadListsFS(fsys, "pack")
	if len(errs) > 0 {
		return nil, errs
	}
	var paths []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && IsRuleFile(p) {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return nil, []Error{{File: "pack", Line: 1, Column: 1, Msg: err.Error()}}
	}
	return LoadFiles(fsys, lists, paths...)
}
