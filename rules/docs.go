package rules

import (
	"fmt"
	"strings"
)

// FieldsMarkdown renders the kinds and fields table of docs/rules.md from Fields and
// Categories, so that the documentation cannot drift from the code (a test compares them).
func FieldsMarkdown() string {
	var b strings.Builder
	b.WriteString("| field | type | kinds | meaning |\n|---|---|---|---|\n")
	for _, f := range Fields {
		kinds := kindNames(f.Kinds)
		if len(f.Kinds) == len(allKinds) {
			kinds = "all"
		} else if len(f.Kinds) == len(netKinds) && f.Has(KindFlow) && f.Has(KindTCPSyn) {
			kinds = "flow and every packet kind"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", f.Name, f.Type, kinds, strings.ReplaceAll(f.Doc, "|", `\|`))
	}
	fmt.Fprintf(&b, "| `%sKEY` | string | event | an event attribute, such as a trap varbind by OID |\n", AttrPrefix)
	b.WriteString("\n| logsource category | kinds |\n|---|---|\n")
	for _, c := range strings.Split(categoryNames(), ", ") {
		fmt.Fprintf(&b, "| `%s` | %s |\n", c, kindNames(Categories[c]))
	}
	return b.String()
}
