package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/watchfloor/watchfloor/rules/sigma"
)

// importSigmaCmd is `watchfloor rules import-sigma FILE|DIR [-o DIR]`: Sigma rules for network
// log sources into Watchfloor rules, one .yaml per rule into -o (default: one YAML stream on
// stdout); refused rules on stderr as file:line: reason. Exit 0 when at least one rule
// converted, 1 when none, 2 on usage errors.
func importSigmaCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rules import-sigma", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "write one `DIR`/<name>.yaml per converted rule (default: stdout)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: watchfloor rules import-sigma FILE|DIR [-o DIR]\n")
		fs.PrintDefaults()
	}
	// Flags may come before or after the path.
	var paths []string
	for {
		if err := fs.Parse(args); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		paths = append(paths, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(paths) != 1 {
		fs.Usage()
		return 2
	}
	in := paths[0]
	st, err := os.Stat(in)
	if err != nil {
		fmt.Fprintf(stderr, "watchfloor rules import-sigma: %v\n", err)
		return 1
	}
	var res sigma.Result
	if st.IsDir() {
		res, err = sigma.ConvertDir(os.DirFS(in), ".")
		for i := range res.Rules {
			res.Rules[i].Source = filepath.Join(in, res.Rules[i].Source)
		}
		for i := range res.Refused {
			res.Refused[i].Source = filepath.Join(in, res.Refused[i].Source)
		}
	} else {
		var data []byte
		data, err = os.ReadFile(in)
		if err == nil {
			res, err = sigma.Convert(in, data)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "watchfloor rules import-sigma: %v\n", err)
		return 1
	}
	for _, r := range res.Refused {
		fmt.Fprintln(stderr, r.String())
	}
	if *out == "" {
		if err := sigma.Write(stdout, res.Rules); err != nil {
			fmt.Fprintf(stderr, "watchfloor rules import-sigma: %v\n", err)
			return 1
		}
	} else if _, err := sigma.WriteDir(*out, res.Rules); err != nil {
		fmt.Fprintf(stderr, "watchfloor rules import-sigma: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "import-sigma: %d rules converted, %d refused\n", len(res.Rules), len(res.Refused))
	if len(res.Rules) == 0 {
		return 1
	}
	return 0
}
