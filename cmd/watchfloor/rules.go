package main

import (
	"fmt"
	"io"

	"github.com/watchfloor/watchfloor/correlator"
	"github.com/watchfloor/watchfloor/rules"
)

const rulesUsage = `usage:
  watchfloor rules check DIR|FILE   validate rules and lists; list every problem as FILE:LINE:COL: FIELD: MSG
  watchfloor rules test FILE        run rule unit tests (like promtool test rules)
  watchfloor rules import-sigma FILE|DIR [-o DIR]
                                    convert Sigma rules for network log sources; refusals say why
`

// rulesCmd is `watchfloor rules check|test`.
func rulesCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "import-sigma" {
		return importSigmaCmd(args[1:], stdout, stderr)
	}
	if len(args) != 2 {
		fmt.Fprint(stderr, rulesUsage)
		return 2
	}
	switch args[0] {
	case "check":
		return rulesCheck(args[1], stdout, stderr)
	case "test":
		return rulesTest(args[1], stdout, stderr)
	}
	fmt.Fprintf(stderr, "watchfloor rules: unknown command %q\n\n%s", args[0], rulesUsage)
	return 2
}

func rulesCheck(p string, stdout, stderr io.Writer) int {
	set, errs := rules.LoadPath(p)
	for _, e := range errs {
		fmt.Fprintln(stderr, e.Error())
	}
	if len(errs) > 0 {
		fmt.Fprintf(stderr, "%d problems\n", len(errs))
		return 1
	}
	for _, w := range set.Warnings {
		fmt.Fprintf(stderr, "%s (warning)\n", w.Error())
	}
	fmt.Fprintf(stdout, "%d rules, %d lists: ok\n", len(set.Rules), set.Lists.Len())
	return 0
}

func rulesTest(p string, stdout, stderr io.Writer) int {
	tf, errs := rules.LoadTestFile(p)
	for _, e := range errs {
		fmt.Fprintln(stderr, e.Error())
	}
	if len(errs) > 0 {
		fmt.Fprintf(stderr, "%d problems\n", len(errs))
		return 1
	}
	if !correlator.WriteTestReport(stdout, p, correlator.RunTests(tf)) {
		return 1
	}
	return 0
}
