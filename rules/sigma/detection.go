package sigma

import (
	"fmt"
	"net/netip"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Modifiers.
var (
	// passed through as they are (type permitting)
	passMods = map[string]bool{
		"contains": true, "startswith": true, "endswith": true, "all": true, "re": true,
		"cidr": true, "expand": true, "gt": true, "gte": true, "lt": true, "lte": true,
		"exists": true, "cased": true,
	}
	// re's sub-modifiers become RE2 inline flags
	reFlags = map[string]bool{"i": true, "m": true, "s": true}
	// encodings of text in host logs
	encodingMods = map[string]string{
		"base64":       "it matches base64-encoded text in host logs",
		"base64offset": "it matches base64-encoded text in host logs",
		"wide":         "it matches UTF-16 text in host logs",
		"utf16":        "it matches UTF-16 text in host logs",
		"utf16le":      "it matches UTF-16 text in host logs",
		"utf16be":      "it matches UTF-16 text in host logs",
		"windash":      "it matches Windows command-line flag variants",
	}
	textMods    = map[string]bool{"contains": true, "startswith": true, "endswith": true, "re": true, "cased": true}
	compareMods = map[string]bool{"gt": true, "gte": true, "lt": true, "lte": true}
)

// detectionOut is a converted detection section.
type detectionOut struct {
	node         *yaml.Node
	responseOnly bool
	notes        []string
}

func (c *converter) convertDetection(d *doc) *problem {
	var probs []problem
	ls := get(d.root, "logsource")
	if ls == nil || ls.Kind != yaml.MappingNode {
		return &problem{d.line, "the rule has no logsource mapping"}
	}
	fam, why := resolveLogsource(scalar(get(ls, "category")), scalar(get(ls, "product")), scalar(get(ls, "service")))
	if why != "" {
		return &problem{ls.Line, why}
	}
	det := get(d.root, "detection")
	if det == nil || det.Kind != yaml.MappingNode {
		return &problem{d.line, "the rule has no detection mapping"}
	}
	out := mNode()
	var cond, timeframe *yaml.Node
	responseOnly := false
	var notes []string
	for i := 0; i+1 < len(det.Content); i += 2 {
		k, v := det.Content[i], det.Content[i+1]
		switch k.Value {
		case "condition":
			cond = v
			continue
		case "timeframe":
			timeframe = v
			continue
		}
		nv, ro, ps := c.convertSearch(fam, k.Value, k, v)
		probs = append(probs, ps...)
		responseOnly = responseOnly || ro
		out.Content = append(out.Content, sNode(k.Value), nv)
	}
	if cond == nil {
		probs = append(probs, problem{det.Line, "the detection has no condition"})
	}
	var ag *aggregation
	condStr := ""
	if cond != nil {
		var p *problem
		condStr, p = conditionString(cond)
		if p != nil {
			probs = append(probs, *p)
		} else if search, aggText, ok := strings.Cut(condStr, "|"); ok {
			condStr = strings.TrimSpace(search)
			ag, p = parseAggregation(fam, strings.TrimSpace(aggText), timeframe, cond.Line)
			if p != nil {
				probs = append(probs, *p)
			} else if condStr == "" {
				probs = append(probs, problem{cond.Line, "the aggregation has no search before |"})
			}
		} else if timeframe != nil {
			notes = append(notes, "dropped detection.timeframe: it has no meaning without an aggregation")
		}
	}
	if len(probs) > 0 {
		return joinProblems(probs)
	}
	if ag != nil && ag.extra != nil {
		// The extra search must not join the condition's `1 of them` or `x*` patterns.
		if p := aggregateNameClash(condStr); p != "" {
			return &problem{cond.Line, p}
		}
		out.Content = append(out.Content, sNode(aggregateSearch), ag.extra)
		condStr = "(" + condStr + ") and " + aggregateSearch
	}
	out.Content = append(out.Content, sNode("condition"), sNode(condStr))

	category := fam.String()
	if fam == famDNS && responseOnly {
		category = "dns_response"
		notes = append(notes, "reads dns_response: the rule tests fields only DNS responses carry")
	}
	logsource := mNode(sNode("product"), sNode("watchfloor"), sNode("category"), sNode(category))
	logsource.Content[3].LineComment = "# Sigma: " + describeLogsource(ls)
	d.families = []family{fam}

	if ag == nil {
		n, dropped := ruleNode(d.root, d.title, d.out, true, []*yaml.Node{sNode("logsource"), logsource, sNode("detection"), out})
		notes = append(notes, droppedNotes(dropped)...)
		d.rules = []Converted{c.converted(d, d.title, d.out, n, notes)}
		return nil
	}
	baseName := c.unique(d.out + "_base")
	baseTitle := d.title + " (selection)"
	base, _ := ruleNode(d.root, baseTitle, baseName, false, []*yaml.Node{sNode("logsource"), logsource, sNode("detection"), out})
	baseNotes := []string{fmt.Sprintf("the search of the Sigma aggregation rule %q; correlation %s counts it", d.title, d.out)}
	corr := mNode(sNode("type"), sNode(ag.typ), sNode("rules"), strSeq([]string{baseName}))
	if len(ag.groupBy) > 0 {
		corr.Content = append(corr.Content, sNode("group-by"), strSeq(ag.groupBy))
	}
	corr.Content = append(corr.Content, sNode("timespan"), sNode(ag.timespan))
	cn := mNode()
	if ag.field != "" {
		cn.Content = append(cn.Content, sNode("field"), sNode(ag.field))
	}
	cn.Content = append(cn.Content, sNode(ag.op), nNode(ag.value))
	corr.Content = append(corr.Content, sNode("condition"), cn, sNode("generate"), bNode(false))
	n, dropped := ruleNode(d.root, d.title, d.out, true, []*yaml.Node{sNode("correlation"), corr})
	notes = append(notes, fmt.Sprintf("converted from the Sigma aggregation %q over %s into a correlation (type %s) of rule %s", ag.text, timeframe.Value, ag.typ, baseName))
	notes = append(notes, ag.notes...)
	notes = append(notes, droppedNotes(dropped)...)
	d.rules = []Converted{
		c.converted(d, baseTitle, baseName, base, baseNotes),
		c.converted(d, d.title, d.out, n, notes),
	}
	return nil
}

func (c *converter) converted(d *doc, title, name string, n *yaml.Node, notes []string) Converted {
	head := []string{fmt.Sprintf("Converted from Sigma %s:%d by watchfloor rules import-sigma (docs/sigma.md).", d.source, d.line)}
	for _, n := range notes {
		head = append(head, "note: "+n)
	}
	return Converted{Source: d.source, Title: title, Name: name, YAML: encode(n, head), Notes: notes}
}

func droppedNotes(keys []string) []string {
	if len(keys) == 0 {
		return nil
	}
	return []string{"dropped Sigma keys Watchfloor does not use: " + strings.Join(keys, ", ")}
}

func describeLogsource(ls *yaml.Node) string {
	var parts []string
	for _, k := range []string{"category", "product", "service"} {
		if v := scalar(get(ls, k)); v != "" {
			parts = append(parts, k+" "+v)
		}
	}
	return strings.Join(parts, ", ")
}

func joinProblems(ps []problem) *problem {
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].line < ps[j].line })
	seen := map[string]bool{}
	var msgs []string
	for _, p := range ps {
		if !seen[p.msg] {
			seen[p.msg] = true
			msgs = append(msgs, p.msg)
		}
	}
	return &problem{ps[0].line, strings.Join(msgs, "; ")}
}

// aggregateSearch names the extra search a min/max aggregation adds.
const aggregateSearch = "aggregate_bound"

var ofPattern = regexp.MustCompile(`(?i)\bof\s+(\S+)`)

// aggregateNameClash says why the extra search cannot be added to a condition whose
// `of them` or `of pattern*` would take it in.
func aggregateNameClash(cond string) string {
	for _, m := range ofPattern.FindAllStringSubmatch(cond, -1) {
		pat := strings.TrimRight(m[1], ")")
		if ok, _ := path.Match(pat, aggregateSearch); ok || strings.EqualFold(pat, "them") {
			return fmt.Sprintf("min/max aggregation over a condition using %q is not supported: the added search %s would join it", "of "+pat, aggregateSearch)
		}
	}
	return ""
}

// conditionString reads the condition: a string, or a list of strings (Sigma 1: OR of them).
func conditionString(n *yaml.Node) (string, *problem) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag != "!!str" || strings.TrimSpace(n.Value) == "" {
			return "", &problem{n.Line, "the condition is not an expression"}
		}
		return n.Value, nil
	case yaml.SequenceNode:
		var parts []string
		for _, it := range n.Content {
			if it.Kind != yaml.ScalarNode || strings.TrimSpace(it.Value) == "" {
				return "", &problem{it.Line, "the condition list holds something other than expressions"}
			}
			if strings.Contains(it.Value, "|") && len(n.Content) > 1 {
				return "", &problem{it.Line, "a condition list with aggregations is not supported: write one rule per aggregation"}
			}
			parts = append(parts, it.Value)
		}
		if len(parts) == 0 {
			return "", &problem{n.Line, "the condition list is empty"}
		}
		if len(parts) == 1 {
			return parts[0], nil
		}
		return "(" + strings.Join(parts, ") or (") + ")", nil
	}
	return "", &problem{n.Line, "the condition is not an expression"}
}

// convertSearch converts one search identifier's value: a map, or a list of maps.
func (c *converter) convertSearch(fam family, ident string, k, v *yaml.Node) (*yaml.Node, bool, []problem) {
	switch v.Kind {
	case yaml.MappingNode:
		return c.convertMap(fam, v)
	case yaml.SequenceNode:
		out := seqNode()
		ro := false
		var probs []problem
		for _, it := range v.Content {
			if it.Kind != yaml.MappingNode {
				return nil, false, []problem{{it.Line, fmt.Sprintf("search %s is a keyword (unnamed-field) search: network records have no free text", ident)}}
			}
			m, r, ps := c.convertMap(fam, it)
			out.Content = append(out.Content, m)
			ro = ro || r
			probs = append(probs, ps...)
		}
		if len(v.Content) == 0 {
			probs = append(probs, problem{v.Line, fmt.Sprintf("search %s is empty", ident)})
		}
		return out, ro, probs
	}
	return nil, false, []problem{{k.Line, fmt.Sprintf("search %s is a keyword (unnamed-field) search: network records have no free text", ident)}}
}

func (c *converter) convertMap(fam family, m *yaml.Node) (*yaml.Node, bool, []problem) {
	out := mNode()
	ro := false
	var probs []problem
	keys := map[string]string{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		key, nv, t, ps := c.convertItem(fam, k, v)
		if len(ps) > 0 {
			probs = append(probs, ps...)
			continue
		}
		if prev, ok := keys[key]; ok {
			probs = append(probs, problem{k.Line, fmt.Sprintf("fields %s and %s both become %s in one map; write them as separate searches", prev, k.Value, key)})
			continue
		}
		keys[key] = k.Value
		ro = ro || t.responseOnly
		out.Content = append(out.Content, sNode(key), nv)
	}
	return out, ro, probs
}

// convertItem converts one `field|modifiers: value(s)`.
func (c *converter) convertItem(fam family, k, v *yaml.Node) (string, *yaml.Node, target, []problem) {
	line := k.Line
	bad := func(format string, a ...any) (string, *yaml.Node, target, []problem) {
		return "", nil, target{}, []problem{{line, fmt.Sprintf(format, a...)}}
	}
	parts := strings.Split(k.Value, "|")
	field, mods := parts[0], parts[1:]
	if field == "" {
		return bad("%q is a keyword (unnamed-field) search: network records have no free text", k.Value)
	}
	t := lookupField(fam, field)
	if t.field == "" {
		return bad("%s", t.why)
	}
	var outMods []string
	reFlag := ""
	seenRe := false
	has := map[string]bool{}
	for _, md := range mods {
		switch {
		case passMods[md]:
			if has[md] {
				return bad("modifier |%s repeated on %s", md, field)
			}
			has[md] = true
			seenRe = seenRe || md == "re"
			outMods = append(outMods, md)
		case seenRe && reFlags[md]:
			reFlag += md
		case encodingMods[md] != "":
			return bad("modifier |%s on %s is not supported: %s, and network records carry no such text", md, field, encodingMods[md])
		case md == "fieldref":
			return bad("modifier |fieldref on %s (comparing two fields) is not supported", field)
		default:
			return bad("modifier |%s on %s is not supported", md, field)
		}
	}
	ncmp := 0
	for m := range compareMods {
		if has[m] {
			ncmp++
		}
	}
	if ncmp > 1 {
		return bad("%s has more than one of |gt, |gte, |lt, |lte", field)
	}
	if has["exists"] && len(mods) > 1 {
		return bad("|exists on %s cannot be combined with other modifiers", field)
	}
	var vals []*yaml.Node
	isList := false
	switch v.Kind {
	case yaml.ScalarNode:
		vals = []*yaml.Node{v}
	case yaml.SequenceNode:
		isList = true
		for _, it := range v.Content {
			if it.Kind != yaml.ScalarNode {
				return bad("the values of %s must be scalars", field)
			}
			vals = append(vals, it)
		}
		if len(vals) == 0 {
			return bad("%s has an empty value list", field)
		}
	default:
		return bad("the value of %s must be a scalar or a list of scalars", field)
	}
	if has["exists"] {
		if len(vals) != 1 || vals[0].Tag != "!!bool" {
			return bad("|exists on %s takes true or false", field)
		}
		return t.field + "|exists", bNode(vals[0].Value == "true"), t, nil
	}
	if has["expand"] {
		for _, x := range vals {
			if p := c.checkPlaceholder(field, x); p != "" {
				return bad("%s", p)
			}
		}
		return joinKey(t.field, outMods), clone(v), t, nil
	}
	var outVals []*yaml.Node
	var probs []problem
	switch t.typ {
	case tStr:
		for m := range compareMods {
			if has[m] {
				return bad("modifier |%s compares numbers; %s becomes %s, which is text", m, field, t.field)
			}
		}
		if has["cidr"] {
			return bad("modifier |cidr needs an address; %s becomes %s, which is text", field, t.field)
		}
		for _, x := range vals {
			if isNull(x) {
				outVals = append(outVals, nullNode())
				continue
			}
			s := x.Value
			if has["re"] {
				if reFlag != "" {
					s = "(?" + reFlag + ")" + s
				}
				if _, err := regexp.Compile(s); err != nil {
					probs = append(probs, problem{x.Line, fmt.Sprintf("the regular expression of %s is not RE2: %v", field, err)})
					continue
				}
			}
			outVals = append(outVals, sNode(s))
		}
	case tNum:
		for m := range textMods {
			if has[m] {
				return bad("modifier |%s compares text; %s becomes %s, which is a number", m, field, t.field)
			}
		}
		if has["cidr"] {
			return bad("modifier |cidr needs an address; %s becomes %s, which is a number", field, t.field)
		}
		for _, x := range vals {
			if isNull(x) {
				outVals = append(outVals, nullNode())
				continue
			}
			if hasWildcard(x.Value) {
				probs = append(probs, problem{x.Line, fmt.Sprintf("value %q of %s has wildcards; %s is a number", x.Value, field, t.field)})
				continue
			}
			n, why := numValue(t, field, x.Value)
			if why != "" {
				probs = append(probs, problem{x.Line, why})
				continue
			}
			outVals = append(outVals, nNode(n))
		}
	case tAddr:
		for m := range compareMods {
			if has[m] {
				return bad("modifier |%s compares numbers; %s becomes %s, which is an address", m, field, t.field)
			}
		}
		for _, m := range []string{"contains", "endswith", "re", "cased"} {
			if has[m] {
				return bad("modifier |%s compares text; %s becomes %s, which is an address (use |cidr)", m, field, t.field)
			}
		}
		var ps []problem
		outVals, outMods, ps = addrValues(field, t.field, vals, has, outMods)
		probs = append(probs, ps...)
	}
	if len(probs) > 0 {
		return "", nil, t, probs
	}
	var nv *yaml.Node
	if isList {
		nv = seqNode(outVals...)
	} else {
		nv = outVals[0]
	}
	return joinKey(t.field, outMods), nv, t, nil
}

func joinKey(field string, mods []string) string {
	if len(mods) == 0 {
		return field
	}
	return field + "|" + strings.Join(mods, "|")
}

func isNull(n *yaml.Node) bool { return n.Tag == "!!null" }

// hasWildcard reports an unescaped * or ? (Sigma's wildcards).
func hasWildcard(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '*', '?':
			return true
		}
	}
	return false
}

var placeholder = regexp.MustCompile(`^%([A-Za-z0-9_.-]+)%$`)

func (c *converter) checkPlaceholder(field string, x *yaml.Node) string {
	m := placeholder.FindStringSubmatch(x.Value)
	if m == nil {
		return fmt.Sprintf("|expand on %s needs a %%name%% placeholder, not %q", field, x.Value)
	}
	if c.lists == nil {
		return fmt.Sprintf("placeholder %%%s%% of %s has no list: convert the rule's directory, with the list in lists/%s.txt", m[1], field, m[1])
	}
	if !c.lists[m[1]] {
		return fmt.Sprintf("placeholder %%%s%% of %s has no list (no lists/%s.txt and not in lists.yaml)", m[1], field, m[1])
	}
	return ""
}

// addrValues converts the values of an address field. Plain values must be addresses; a
// Sigma |startswith of whole IPv4 octets ('10.', '192.168.') and a plain 'a.b.*' wildcard are
// exactly a |cidr network, and become one.
func addrValues(field, wf string, vals []*yaml.Node, has map[string]bool, mods []string) ([]*yaml.Node, []string, []problem) {
	var probs []problem
	var out []*yaml.Node
	toCIDR := has["cidr"] || has["startswith"]
	if !toCIDR {
		for _, x := range vals {
			if !isNull(x) && hasWildcard(x.Value) {
				toCIDR = true
			}
		}
	}
	for _, x := range vals {
		if isNull(x) {
			if toCIDR {
				probs = append(probs, problem{x.Line, fmt.Sprintf("null among the networks of %s", field)})
				continue
			}
			out = append(out, nullNode())
			continue
		}
		s := strings.TrimSpace(x.Value)
		switch {
		case has["startswith"]:
			p, ok := octetPrefix(s)
			if !ok {
				probs = append(probs, problem{x.Line, fmt.Sprintf("%s|startswith %q is not whole IPv4 octets ending in '.', so it has no exact network equivalent (use |cidr)", field, x.Value)})
				continue
			}
			out = append(out, sNode(p))
		case has["cidr"]:
			p, err := netip.ParsePrefix(s)
			if err != nil {
				if a, err2 := netip.ParseAddr(s); err2 == nil {
					p = netip.PrefixFrom(a, a.BitLen())
				} else {
					probs = append(probs, problem{x.Line, fmt.Sprintf("%s|cidr value %q is not a network", field, x.Value)})
					continue
				}
			}
			out = append(out, sNode(p.String()))
		case hasWildcard(s):
			p, ok := wildcardPrefix(s)
			if !ok {
				probs = append(probs, problem{x.Line, fmt.Sprintf("value %q of %s is a text pattern with no exact network equivalent (use |cidr)", x.Value, field)})
				continue
			}
			out = append(out, sNode(p))
		default:
			a, err := netip.ParseAddr(s)
			if err != nil {
				probs = append(probs, problem{x.Line, fmt.Sprintf("value %q of %s is not an address (a network needs |cidr)", x.Value, field)})
				continue
			}
			if toCIDR {
				out = append(out, sNode(netip.PrefixFrom(a, a.BitLen()).String()))
			} else {
				out = append(out, sNode(a.String()))
			}
		}
	}
	if toCIDR {
		var nm []string
		for _, m := range mods {
			if m != "startswith" && m != "cidr" {
				nm = append(nm, m)
			}
		}
		mods = append([]string{"cidr"}, nm...)
	}
	_ = wf
	return out, mods, probs
}

// octetPrefix turns "10." or "192.168." into "10.0.0.0/8" or "192.168.0.0/16".
func octetPrefix(s string) (string, bool) {
	if !strings.HasSuffix(s, ".") {
		return "", false
	}
	parts := strings.Split(strings.TrimSuffix(s, "."), ".")
	if len(parts) < 1 || len(parts) > 3 {
		return "", false
	}
	var oct [4]byte
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 255 || p == "" || (len(p) > 1 && p[0] == '0') {
			return "", false
		}
		oct[i] = byte(n)
	}
	return netip.PrefixFrom(netip.AddrFrom4(oct), 8*len(parts)).String(), true
}

// wildcardPrefix turns "10.*" or "192.168.*" into a network.
func wildcardPrefix(s string) (string, bool) {
	if !strings.HasSuffix(s, ".*") || strings.Count(s, "*") != 1 || strings.Contains(s, "?") {
		return "", false
	}
	return octetPrefix(strings.TrimSuffix(s, "*"))
}

// aggregation is a parsed Sigma 1 aggregation expression.
type aggregation struct {
	text     string
	typ      string
	field    string
	groupBy  []string
	op       string
	value    string
	timespan string
	extra    *yaml.Node // an extra search for min/max
	notes    []string
}

var (
	aggRe      = regexp.MustCompile(`(?i)^(count|min|max|avg|sum)\s*\(\s*([^()\s]*)\s*\)\s*(?:by\s+(.+?))?\s*(<=|>=|==|!=|<|>|=)\s*(-?[0-9]+(?:\.[0-9]+)?)$`)
	timespanRe = regexp.MustCompile(`^[1-9][0-9]{0,8}[smhd]$`)
)

func parseAggregation(fam family, text string, timeframe *yaml.Node, line int) (*aggregation, *problem) {
	bad := func(format string, a ...any) (*aggregation, *problem) {
		return nil, &problem{line, fmt.Sprintf(format, a...)}
	}
	if strings.HasPrefix(strings.ToLower(text), "near") {
		return bad("the near aggregation is not supported: write it as a Sigma temporal correlation")
	}
	if strings.Contains(text, "|") {
		return bad("a condition with more than one | is not supported")
	}
	m := aggRe.FindStringSubmatch(text)
	if m == nil {
		return bad("aggregation %q is not count(), count(field), sum, avg, min or max (field) [by fields] compared with a number", text)
	}
	if timeframe == nil {
		return bad("aggregation %q has no timeframe: a correlation needs a window", text)
	}
	tf := strings.TrimSpace(scalar(timeframe))
	if !timespanRe.MatchString(tf) {
		return nil, &problem{timeframe.Line, fmt.Sprintf("timeframe %q is not a number followed by s, m, h or d", scalar(timeframe))}
	}
	ag := &aggregation{text: text, timespan: tf, value: m[5]}
	fn, field := strings.ToLower(m[1]), m[2]
	ops := map[string]string{">": "gt", ">=": "gte", "<": "lt", "<=": "lte", "=": "eq", "==": "eq"}
	op := ops[m[4]]
	if op == "" {
		return bad("aggregation comparison %s has no Sigma correlation equivalent", m[4])
	}
	ag.op = op
	var probs []problem
	if m[3] != "" {
		for _, g := range strings.Split(m[3], ",") {
			g = strings.TrimSpace(g)
			if g == "" {
				continue
			}
			t := lookupField(fam, g)
			if t.field == "" {
				probs = append(probs, problem{line, "group-by " + t.why})
				continue
			}
			ag.groupBy = append(ag.groupBy, t.field)
		}
	}
	var ft target
	if field != "" {
		ft = lookupField(fam, field)
		if ft.field == "" {
			probs = append(probs, problem{line, ft.why})
		}
	}
	if len(probs) > 0 {
		return nil, joinProblems(probs)
	}
	switch fn {
	case "count":
		if field == "" {
			ag.typ = "event_count"
		} else {
			ag.typ, ag.field = "value_count", ft.field
		}
	case "sum", "avg", "min", "max":
		if field == "" {
			return bad("%s() needs a field", fn)
		}
		if ft.typ != tNum {
			return bad("%s(%s) needs a number; %s becomes %s, which is %s", fn, field, field, ft.field, ft.typ)
		}
		switch fn {
		case "sum":
			ag.typ, ag.field = "value_sum", ft.field
		case "avg":
			ag.typ, ag.field = "value_avg", ft.field
		default:
			// max(f) > N holds exactly when some event has f > N (min(f) < N: some event
			// has f < N): count those events. The other directions need every event to
			// satisfy it, which no Sigma correlation expresses.
			upper := op == "gt" || op == "gte"
			lower := op == "lt" || op == "lte"
			if (fn == "max" && !upper) || (fn == "min" && !lower) {
				return bad("%s(%s) %s %s holds only when every event satisfies it; no Sigma correlation expresses that", fn, field, m[4], m[5])
			}
			ag.extra = mNode(sNode(ft.field+"|"+op), nNode(m[5]))
			ag.typ, ag.op, ag.value = "event_count", "gte", "1"
			ag.notes = append(ag.notes, fmt.Sprintf("%s(%s) %s %s became: at least one event with %s|%s %s (the aggregate_bound search)", fn, field, m[4], m[5], ft.field, op, m[5]))
		}
	}
	return ag, nil
}
