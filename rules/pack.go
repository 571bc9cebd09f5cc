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

// Central's built-in pack (rules/central): cross-site rules over what the appliances send,
// for a `role: central` process without a rules directory.
//
//go:embed central
var centralFS embed.FS

// Pack returns the default detection pack's files, rooted at the pack directory: rule files
// (*.yaml), lists.yaml, lists/*.txt, tests/*_test.yaml and README.md.
func Pack() fs.FS { return embedded(packFS, "pack") }

// CentralPack returns central's built-in pack, rooted at its directory: cross_site.yaml and
// tests/.
func CentralPack() fs.FS { return embedded(centralFS, "central") }

func embedded(f embed.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // dir is a valid path embedded at build time
	}
	return sub
}

// LoadPack loads the default pack as one set with its lists, as LoadDir loads a directory.
func LoadPack() (*Set, []Error) { return LoadFS(Pack(), "pack") }

// LoadCentralPack loads central's built-in pack.
func LoadCentralPack() (*Set, []Error) { return LoadFS(CentralPack(), "central") }

// LoadFS loads the rule files and lists of fsys as one set, as LoadDir loads a directory;
// name is the directory's name in error messages.
func LoadFS(fsys fs.FS, name string) (*Set, []Error) {
	lists, errs := LoadListsFS(fsys, name)
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
		return nil, []Error{{File: name, Line: 1, Column: 1, Msg: err.Error()}}
	}
	return LoadFiles(fsys, lists, paths...)
}
