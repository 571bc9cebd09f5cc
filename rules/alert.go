package rules

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// DefaultResolveAfter is the quiet period of alerts that nothing else resolves.
const DefaultResolveAfter = 10 * time.Minute

// ParseTemplate splits a template at its {field} references; `{{` and `}}` are literal
// braces. The error carries the byte offset of the problem.
func ParseTemplate(s string) (Template, *ConditionError) {
	t := Template{Raw: s}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.Parts = append(t.Parts, TemplatePart{Lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '{' && i+1 < len(s) && s[i+1] == '{':
			lit.WriteByte('{')
			i++
		case c == '}' && i+1 < len(s) && s[i+1] == '}':
			lit.WriteByte('}')
			i++
		case c == '{':
			j := strings.IndexByte(s[i:], '}')
			if j < 0 {
				return t, &ConditionError{i, "unclosed { (write {{ for a brace)"}
			}
			name := strings.TrimSpace(s[i+1 : i+j])
			if name == "" {
				return t, &ConditionError{i, "empty {} (write {{ for a brace)"}
			}
			flush()
			t.Parts = append(t.Parts, TemplatePart{Field: name})
			i += j
		case c == '}':
			return t, &ConditionError{i, "unmatched } (write }} for a brace)"}
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return t, nil
}

// Fields lists the fields a template references.
func (t Template) Fields() []string {
	var out []string
	for _, p := range t.Parts {
		if p.Field != "" {
			out = append(out, p.Field)
		}
	}
	return out
}

// Expand renders the template with a lookup of field values; fields the lookup does not know
// render as empty.
func (t Template) Expand(value func(field string) string) string {
	var b strings.Builder
	for _, p := range t.Parts {
		if p.Field == "" {
			b.WriteString(p.Lit)
		} else {
			b.WriteString(value(p.Field))
		}
	}
	return b.String()
}

// available reports whether a template, entity or identity may use field name: a field of the
// rule's kinds for a detection, a group-by name (or _value) for a correlation.
func (r *Rule) available(name string) (bool, string) {
	if c := r.Correlation; c != nil {
		if name == ValueField {
			return true, ""
		}
		var names []string
		for _, g := range c.GroupBy {
			if g.Name == name {
				return true, ""
			}
			names = append(names, g.Name)
		}
		return false, fmt.Sprintf("a correlation's alert can use its group-by fields (%s) and %s", strings.Join(names, ", "), ValueField)
	}
	f, ok := LookupField(name)
	if !ok {
		return false, "unknown field" + suggest(name)
	}
	if r.Kinds != nil && !f.HasAny(r.Kinds) {
		return false, fmt.Sprintf("not in %s records; it is in: %s", kindNames(r.Kinds), kindNames(f.Kinds))
	}
	return true, ""
}

func (p *parser) template(r *Rule, n *yaml.Node, field string) Template {
	s, ok := p.str(n, field)
	if !ok {
		return Template{}
	}
	t, err := ParseTemplate(s)
	if err != nil {
		line, col := scalarPos(n, err.Offset)
		p.at(line, col, field, "%s", err.Msg)
		return Template{}
	}
	off := 0
	for _, part := range t.Parts {
		if part.Field != "" {
			if ok, why := r.available(part.Field); !ok {
				i := strings.Index(s[off:], "{"+part.Field)
				line, col := n.Line, n.Column
				if i >= 0 {
					line, col = scalarPos(n, off+i)
					off += i + 1
				}
				p.at(line, col, field, "{%s}: %s", part.Field, why)
			}
		}
	}
	return t
}

func (p *parser) alert(r *Rule, n *yaml.Node) {
	a := &r.Alert
	var resolveSet bool
	if n != nil {
		p.mapping(n, "alert", func(k, v *yaml.Node) {
			f := join("alert", k.Value)
			switch k.Value {
			case "title":
				a.Title = p.template(r, v, f)
			case "description":
				a.Description = p.template(r, v, f)
			case "entity":
				p.entity(r, v, f)
			case "identity":
				names, nodes := p.strList(v, f)
				for i, name := range names {
					if ok, why := r.available(name); !ok {
						p.atN(nodes[i], fmt.Sprintf("%s[%d]", f, i), "%s: %s", name, why)
					}
				}
				a.Identity = names
				if a.Identity == nil {
					a.Identity = []string{}
				}
			case "runbook":
				a.Runbook, _ = p.str(v, f)
			case "resolve_after":
				a.ResolveAfter, resolveSet = p.duration(v, f)
			case "recovery":
				if s, ok := p.str(v, f); ok {
					a.Recovery = s
					r.x.recovery = at(v)
				}
			default:
				p.atN(k, f, "unknown key (want title, description, entity, identity, runbook, resolve_after, recovery)")
			}
		})
	}
	if a.Title.Raw == "" {
		a.Title = Template{Raw: r.Title, Parts: []TemplatePart{{Lit: r.Title}}}
	}
	if a.Description.Raw == "" && r.Description != "" {
		a.Description = Template{Raw: r.Description, Parts: []TemplatePart{{Lit: r.Description}}}
	}
	if a.Identity == nil && r.Correlation != nil {
		for _, g := range r.Correlation.GroupBy {
			a.Identity = append(a.Identity, g.Name)
		}
	}
	if !resolveSet {
		a.ResolveAfter = DefaultResolveAfter
		if a.Recovery != "" || (r.Correlation != nil && (r.Correlation.Type == Absence || r.Correlation.Type == Threshold)) {
			a.ResolveAfter = 0
		}
	}
	r.x.resolveSet = resolveSet
}

func (p *parser) entity(r *Rule, n *yaml.Node, field string) {
	e := &r.Alert.Entity
	var ifaceNode *yaml.Node
	p.mapping(n, field, func(k, v *yaml.Node) {
		f := join(field, k.Value)
		name, ok := p.str(v, f)
		if !ok {
			return
		}
		switch k.Value {
		case "host":
			e.Host = name
		case "device":
			e.Device = name
		case "interface":
			e.Interface = name
			ifaceNode = k
		case "site":
			e.Site = name
		default:
			p.atN(k, f, "unknown entity (want host, device, interface, site)")
			return
		}
		if ok, why := r.available(name); !ok {
			p.atN(v, f, "%s: %s", name, why)
		}
	})
	if ifaceNode != nil && e.Device == "" {
		p.atN(ifaceNode, join(field, "interface"), "an interface entity names its device too (device: device)")
	}
}

// identityMissing lists identity fields the rule cannot provide (a recovery rule must carry
// the identity of the alert it resolves).
func (r *Rule) identityMissing(identity []string) []string {
	var out []string
	for _, name := range identity {
		if ok, _ := r.available(name); !ok || (r.Correlation == nil && r.Kinds == nil) {
			out = append(out, name)
		}
	}
	return slices.Clip(out)
}
