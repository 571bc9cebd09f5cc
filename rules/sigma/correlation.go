package sigma

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The correlation types of the Sigma 2.1 correlation specification.
var corrTypes = map[string]bool{
	"event_count": true, "value_count": true, "temporal": true, "temporal_ordered": true,
	"value_sum": true, "value_avg": true, "value_percentile": true,
}

// Types whose condition needs a numeric field.
var numericCorr = map[string]bool{"value_sum": true, "value_avg": true, "value_percentile": true}

func (c *converter) convertCorrelation(d *doc) *problem {
	cn := get(d.root, "correlation")
	if cn.Kind != yaml.MappingNode {
		return &problem{cn.Line, "correlation is not a mapping"}
	}
	known := map[string]bool{"type": true, "rules": true, "aliases": true, "group-by": true, "timespan": true, "condition": true, "generate": true}
	for i := 0; i+1 < len(cn.Content); i += 2 {
		if k := cn.Content[i]; !known[k.Value] {
			return &problem{k.Line, fmt.Sprintf("correlation key %s is not in the Sigma correlation specification", k.Value)}
		}
	}
	typN := get(cn, "type")
	typ := scalar(typN)
	if !corrTypes[typ] {
		return &problem{valueLine(typN, cn.Line), fmt.Sprintf("correlation type %q is not one of Sigma 2.1's (event_count, value_count, temporal, temporal_ordered, value_sum, value_avg, value_percentile)", typ)}
	}
	var probs []problem
	var notes []string

	// rules
	rulesN := get(cn, "rules")
	var refNodes []*yaml.Node
	switch {
	case rulesN == nil:
		return &problem{cn.Line, "the correlation has no rules"}
	case rulesN.Kind == yaml.ScalarNode:
		refNodes = []*yaml.Node{rulesN}
	case rulesN.Kind == yaml.SequenceNode && len(rulesN.Content) > 0:
		refNodes = rulesN.Content
	default:
		return &problem{rulesN.Line, "correlation rules must be a list of rule names or ids"}
	}
	refByKey := map[string]*doc{}
	var refs []*doc
	var outRefs []string
	for _, rn := range refNodes {
		ref, p := c.resolve(rn)
		if p != nil {
			probs = append(probs, *p)
			continue
		}
		refByKey[rn.Value] = ref
		refs = append(refs, ref)
		outRefs = append(outRefs, ref.out)
		if rn.Value != ref.out {
			notes = append(notes, fmt.Sprintf("rule reference %s is now %s", rn.Value, ref.out))
		}
	}
	if len(probs) > 0 {
		return joinProblems(probs)
	}
	var families []family
	seenFam := map[family]bool{}
	for _, r := range refs {
		for _, f := range r.families {
			if !seenFam[f] {
				seenFam[f] = true
				families = append(families, f)
			}
		}
	}

	// aliases
	aliasNames := map[string]bool{}
	var aliasesOut *yaml.Node
	if an := get(cn, "aliases"); an != nil {
		if an.Kind != yaml.MappingNode {
			return &problem{an.Line, "correlation aliases must be a mapping"}
		}
		aliasesOut = mNode()
		for i := 0; i+1 < len(an.Content); i += 2 {
			name, per := an.Content[i], an.Content[i+1]
			if per.Kind != yaml.MappingNode {
				probs = append(probs, problem{per.Line, fmt.Sprintf("alias %s must map rule names to fields", name.Value)})
				continue
			}
			aliasNames[name.Value] = true
			om := mNode()
			for j := 0; j+1 < len(per.Content); j += 2 {
				rk, fv := per.Content[j], per.Content[j+1]
				ref := refByKey[rk.Value]
				if ref == nil {
					if r, _ := c.resolve(rk); r != nil {
						for _, x := range refs {
							if x == r {
								ref = r
							}
						}
					}
				}
				if ref == nil {
					probs = append(probs, problem{rk.Line, fmt.Sprintf("alias %s names rule %s, which the correlation does not reference", name.Value, rk.Value)})
					continue
				}
				wf, _, p := mapCorrField(scalar(fv), fv.Line, []*doc{ref})
				if p != nil {
					probs = append(probs, *p)
					continue
				}
				om.Content = append(om.Content, sNode(ref.out), sNode(wf))
			}
			aliasesOut.Content = append(aliasesOut.Content, sNode(name.Value), om)
		}
	}

	// group-by
	var groupBy []string
	if gn := get(cn, "group-by"); gn != nil {
		var items []*yaml.Node
		switch gn.Kind {
		case yaml.SequenceNode:
			items = gn.Content
		case yaml.ScalarNode:
			items = []*yaml.Node{gn}
		default:
			return &problem{gn.Line, "group-by must be a list of fields"}
		}
		for _, g := range items {
			if g.Kind != yaml.ScalarNode || g.Value == "" {
				probs = append(probs, problem{g.Line, "group-by must be a list of fields"})
				continue
			}
			if aliasNames[g.Value] {
				groupBy = append(groupBy, g.Value)
				continue
			}
			wf, _, p := mapCorrField(g.Value, g.Line, refs)
			if p != nil {
				probs = append(probs, *p)
				continue
			}
			groupBy = append(groupBy, wf)
		}
	} else if typ != "temporal" && typ != "temporal_ordered" && typ != "event_count" && typ != "value_count" && !numericCorr[typ] {
		probs = append(probs, problem{cn.Line, "the correlation has no group-by"})
	}

	// timespan
	tsN := get(cn, "timespan")
	ts := strings.TrimSpace(scalar(tsN))
	if tsN == nil {
		probs = append(probs, problem{cn.Line, "the correlation has no timespan"})
	} else if !timespanRe.MatchString(ts) {
		probs = append(probs, problem{tsN.Line, fmt.Sprintf("timespan %q is not a number followed by s, m, h or d", scalar(tsN))})
	}

	// condition
	var condOut *yaml.Node
	condN := get(cn, "condition")
	temporal := typ == "temporal" || typ == "temporal_ordered"
	switch {
	case condN == nil:
		if !temporal {
			probs = append(probs, problem{cn.Line, fmt.Sprintf("a %s correlation needs a condition", typ)})
		}
	case condN.Kind == yaml.ScalarNode && temporal:
		if !allRulesAnd(condN.Value, refNodes) {
			probs = append(probs, problem{condN.Line, fmt.Sprintf("temporal condition %q is not supported: only the default, every referenced rule (a and b and …), converts", condN.Value)})
		} else {
			notes = append(notes, "dropped the temporal condition: it names every referenced rule, which is the default")
		}
	case condN.Kind == yaml.MappingNode:
		var p *problem
		condOut, p = convertCorrCondition(typ, condN, refs)
		if p != nil {
			probs = append(probs, *p)
		}
	default:
		probs = append(probs, problem{condN.Line, "the correlation condition must be a mapping such as {gte: 10}"})
	}

	genN := get(cn, "generate")
	if genN != nil && genN.Tag != "!!bool" {
		probs = append(probs, problem{genN.Line, "generate must be true or false"})
	}
	if len(probs) > 0 {
		return joinProblems(probs)
	}

	out := mNode(sNode("type"), sNode(typ), sNode("rules"), strSeq(outRefs))
	if aliasesOut != nil {
		out.Content = append(out.Content, sNode("aliases"), aliasesOut)
	}
	if len(groupBy) > 0 {
		out.Content = append(out.Content, sNode("group-by"), strSeq(groupBy))
	}
	out.Content = append(out.Content, sNode("timespan"), sNode(ts))
	if condOut != nil {
		out.Content = append(out.Content, sNode("condition"), condOut)
	}
	if genN != nil {
		out.Content = append(out.Content, sNode("generate"), bNode(genN.Value == "true"))
	}
	n, dropped := ruleNode(d.root, d.title, d.out, true, []*yaml.Node{sNode("correlation"), out})
	notes = append(notes, droppedNotes(dropped)...)
	d.families = families
	d.aliases = aliasNames
	d.rules = []Converted{c.converted(d, d.title, d.out, n, notes)}
	return nil
}

// resolve finds a referenced rule by Sigma name, then id, and converts it first.
func (c *converter) resolve(rn *yaml.Node) (*doc, *problem) {
	if rn.Kind != yaml.ScalarNode || rn.Value == "" {
		return nil, &problem{rn.Line, "a correlation rule reference must be a rule name or id"}
	}
	ref := c.byName[rn.Value]
	if ref == nil {
		ref = c.byID[rn.Value]
	}
	if ref == nil {
		return nil, &problem{rn.Line, fmt.Sprintf("referenced rule %s is not among the converted files (convert the directory holding it)", rn.Value)}
	}
	c.convert(ref)
	if ref.refusal != nil {
		if ref.visiting {
			return nil, &problem{rn.Line, fmt.Sprintf("correlation references form a cycle through %s", rn.Value)}
		}
		return nil, &problem{rn.Line, fmt.Sprintf("referenced rule %s was refused (%s:%d)", rn.Value, ref.source, ref.refusal.line)}
	}
	if ref.visiting {
		return nil, &problem{rn.Line, fmt.Sprintf("correlation references form a cycle through %s", rn.Value)}
	}
	return ref, nil
}

// mapCorrField maps a field of a correlation through the mapping of every referenced rule;
// they must agree. An alias a referenced (chained) correlation defines passes as it is.
func mapCorrField(field string, line int, refs []*doc) (string, ftype, *problem) {
	if field == "" {
		return "", 0, &problem{line, "empty field name in the correlation"}
	}
	wf, typ := "", ftype(0)
	for _, r := range refs {
		if r.aliases[field] {
			if wf == "" {
				wf = field
			}
			continue
		}
		for _, f := range r.families {
			t := lookupField(f, field)
			if t.field == "" {
				return "", 0, &problem{line, fmt.Sprintf("%s (in rule %s)", t.why, r.out)}
			}
			if wf != "" && wf != t.field {
				return "", 0, &problem{line, fmt.Sprintf("field %s becomes %s in one referenced rule and %s in another; use aliases", field, wf, t.field)}
			}
			wf, typ = t.field, t.typ
		}
	}
	if wf == "" {
		return "", 0, &problem{line, fmt.Sprintf("field %s maps to nothing", field)}
	}
	return wf, typ, nil
}

func convertCorrCondition(typ string, cn *yaml.Node, refs []*doc) (*yaml.Node, *problem) {
	out := mNode()
	var field *yaml.Node
	ncmp := 0
	for i := 0; i+1 < len(cn.Content); i += 2 {
		k, v := cn.Content[i], cn.Content[i+1]
		switch k.Value {
		case "field":
			field = v
		case "gt", "gte", "lt", "lte", "eq":
			if v.Kind != yaml.ScalarNode {
				return nil, &problem{v.Line, fmt.Sprintf("condition %s must be a number", k.Value)}
			}
			if _, err := strconv.ParseFloat(v.Value, 64); err != nil || strings.ContainsAny(v.Value, "xXnN_") {
				return nil, &problem{v.Line, fmt.Sprintf("condition %s: %q is not a number", k.Value, v.Value)}
			}
			out.Content = append(out.Content, sNode(k.Value), nNode(v.Value))
			ncmp++
		case "percentile":
			if typ != "value_percentile" {
				return nil, &problem{k.Line, "condition percentile belongs to value_percentile"}
			}
			if _, err := strconv.ParseFloat(v.Value, 64); err != nil || v.Kind != yaml.ScalarNode {
				return nil, &problem{v.Line, fmt.Sprintf("condition percentile: %q is not a number", v.Value)}
			}
			out.Content = append(out.Content, sNode(k.Value), nNode(v.Value))
		default:
			return nil, &problem{k.Line, fmt.Sprintf("condition key %s is not one of field, gt, gte, lt, lte, eq", k.Value)}
		}
	}
	if ncmp == 0 {
		return nil, &problem{cn.Line, "the correlation condition has no gt, gte, lt, lte or eq"}
	}
	needField := typ == "value_count" || numericCorr[typ]
	if field == nil {
		if needField {
			return nil, &problem{cn.Line, fmt.Sprintf("a %s correlation needs condition.field", typ)}
		}
		return out, nil
	}
	if !needField {
		return nil, &problem{field.Line, fmt.Sprintf("condition.field does not belong to a %s correlation", typ)}
	}
	var fields []*yaml.Node
	switch field.Kind {
	case yaml.ScalarNode:
		fields = []*yaml.Node{field}
	case yaml.SequenceNode:
		fields = field.Content
	}
	if len(fields) == 0 || (len(fields) > 1 && typ != "value_count") {
		return nil, &problem{field.Line, "condition.field must name one field"}
	}
	var mappedFields []*yaml.Node
	for _, f := range fields {
		wf, ft, p := mapCorrField(scalar(f), f.Line, refs)
		if p != nil {
			return nil, p
		}
		if numericCorr[typ] && ft != tNum {
			return nil, &problem{f.Line, fmt.Sprintf("a %s correlation needs a numeric field; %s becomes %s, which is %s", typ, f.Value, wf, ft)}
		}
		mappedFields = append(mappedFields, sNode(wf))
	}
	var fn *yaml.Node
	if field.Kind == yaml.SequenceNode {
		fn = seqNode(mappedFields...)
	} else {
		fn = mappedFields[0]
	}
	out.Content = append([]*yaml.Node{sNode("field"), fn}, out.Content...)
	return out, nil
}

// allRulesAnd reports whether a temporal condition is the AND of exactly the referenced rules.
func allRulesAnd(cond string, refs []*yaml.Node) bool {
	words := strings.Fields(cond)
	if len(words) != 2*len(refs)-1 {
		return false
	}
	want := map[string]bool{}
	for _, r := range refs {
		want[r.Value] = true
	}
	got := map[string]bool{}
	for i, w := range words {
		if i%2 == 1 {
			if !strings.EqualFold(w, "and") {
				return false
			}
			continue
		}
		if !want[w] || got[w] {
			return false
		}
		got[w] = true
	}
	return len(got) == len(want)
}
