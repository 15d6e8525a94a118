package wua

import (
	"fmt"
	"strconv"
	"strings"
)

// Criteria is a parsed WUA search criteria string (IUpdateSearcher::Search): a
// disjunction of conjunctions, the only shape WUA accepts (OR at the top level only).
type Criteria [][]Condition

// Condition is one "Property op value" of a criteria string.
type Condition struct {
	Property string // canonical name, e.g. "IsInstalled"
	Op       string // "=", "!=" or "contains"
	Value    string // string value without quotes, or decimal integer
}

// Search criteria properties ([MS-UAMG] IUpdateSearcher::Search) and the value kind
// each takes. A read-only table.
var criteriaProperties = map[string]bool{ // name → takes a string value
	"Type": true, "DeploymentAction": true, "IsAssigned": false, "AutoSelectOnWebSites": false,
	"BrowseOnly": false, "UpdateID": true, "RevisionNumber": false, "CategoryIDs": true,
	"IsInstalled": false, "IsHidden": false, "IsPresent": false, "RebootRequired": false,
}

func (c Condition) String() string {
	op := c.Op
	if op == "contains" {
		op = " contains "
	}
	if criteriaProperties[c.Property] {
		return c.Property + op + "'" + c.Value + "'"
	}
	return c.Property + op + c.Value
}

// String renders the criteria for WUA: "a=1 and b='x' or c=0".
func (c Criteria) String() string {
	groups := make([]string, len(c))
	for i, g := range c {
		conds := make([]string, len(g))
		for j, cond := range g {
			conds[j] = cond.String()
		}
		groups[i] = strings.Join(conds, " and ")
	}
	return strings.Join(groups, " or ")
}

// And adds a condition to every group: (a or b) and c gives a and c or b and c.
func (c Criteria) And(cond Condition) Criteria {
	out := make(Criteria, len(c))
	for i, g := range c {
		out[i] = append(append([]Condition(nil), g...), cond)
	}
	return out
}

// CriteriaFromFilter checks the [waptwua] filter key and returns the criteria to search
// with: DefaultFilter when filter is empty, else filter in canonical form. The error
// names what is wrong in the filter.
func CriteriaFromFilter(filter string) (string, error) {
	if strings.TrimSpace(filter) == "" {
		filter = DefaultFilter
	}
	c, err := ParseCriteria(filter)
	if err != nil {
		return "", err
	}
	return c.String(), nil
}

// ParseCriteria parses a WUA search criteria string. It accepts the grammar of
// [MS-UAMG] (criteria joined by "and"/"or", parentheses, = != contains, 'strings' and
// integers) with WUA's restrictions: "or" only at the top level, "!=" only with Type.
func ParseCriteria(s string) (Criteria, error) {
	p := &criteriaParser{src: s}
	if err := p.lex(); err != nil {
		return nil, err
	}
	c, err := p.disjunction()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, p.errorf(p.toks[p.pos], "unexpected %q (want and, or, or the end)", p.toks[p.pos].text)
	}
	return c, nil
}

type criteriaToken struct {
	text   string
	quoted bool // a 'string' literal (text without the quotes)
	at     int  // byte offset in the source
}

type criteriaParser struct {
	src  string
	toks []criteriaToken
	pos  int
}

func (p *criteriaParser) errorf(t criteriaToken, format string, args ...any) error {
	return fmt.Errorf("search criteria %q: at %d: %s", p.src, t.at+1, fmt.Sprintf(format, args...))
}

func (p *criteriaParser) lex() error {
	s := p.src
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '\r' || c == '\n':
			return fmt.Errorf("search criteria %q: a filter is one line", s)
		case c == '(' || c == ')' || c == '=':
			p.toks = append(p.toks, criteriaToken{text: string(c), at: i})
			i++
		case c == '!':
			if i+1 >= len(s) || s[i+1] != '=' {
				return fmt.Errorf("search criteria %q: at %d: '!' must be followed by '='", s, i+1)
			}
			p.toks = append(p.toks, criteriaToken{text: "!=", at: i})
			i += 2
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return fmt.Errorf("search criteria %q: at %d: unterminated string (missing ')", s, i+1)
			}
			p.toks = append(p.toks, criteriaToken{text: s[i+1 : i+1+end], quoted: true, at: i})
			i += end + 2
		case c == '-' || c >= '0' && c <= '9' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i + 1
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z') {
				j++
			}
			p.toks = append(p.toks, criteriaToken{text: s[i:j], at: i})
			i = j
		default:
			return fmt.Errorf("search criteria %q: at %d: unexpected character %q", s, i+1, c)
		}
	}
	if len(p.toks) == 0 {
		return fmt.Errorf("search criteria %q: empty (e.g. %s)", s, DefaultFilter)
	}
	return nil
}

func (p *criteriaParser) peekWord(w string) bool {
	return p.pos < len(p.toks) && !p.toks[p.pos].quoted && strings.EqualFold(p.toks[p.pos].text, w)
}

func (p *criteriaParser) next() (criteriaToken, bool) {
	if p.pos >= len(p.toks) {
		return criteriaToken{at: len(p.src)}, false
	}
	t := p.toks[p.pos]
	p.pos++
	return t, true
}

func (p *criteriaParser) disjunction() (Criteria, error) {
	var out Criteria
	for {
		c, err := p.conjunction()
		if err != nil {
			return nil, err
		}
		out = append(out, c...)
		if !p.peekWord("or") {
			return out, nil
		}
		p.pos++
	}
}

func (p *criteriaParser) conjunction() (Criteria, error) {
	start := p.pos
	var group []Condition
	ors := false
	var first Criteria
	terms := 0
	for {
		c, err := p.term()
		if err != nil {
			return nil, err
		}
		terms++
		if len(c) > 1 {
			ors = true
			first = c
		} else {
			group = append(group, c[0]...)
		}
		if !p.peekWord("and") {
			break
		}
		p.pos++
	}
	if ors {
		if terms > 1 {
			return nil, p.errorf(p.toks[start], "\"or\" is allowed only at the top level, not inside a group joined with \"and\" (write (a and b) or (a and c))")
		}
		return first, nil
	}
	return Criteria{group}, nil
}

func (p *criteriaParser) term() (Criteria, error) {
	if p.pos < len(p.toks) && !p.toks[p.pos].quoted && p.toks[p.pos].text == "(" {
		p.pos++
		c, err := p.disjunction()
		if err != nil {
			return nil, err
		}
		t, ok := p.next()
		if !ok || t.quoted || t.text != ")" {
			return nil, p.errorf(t, "missing )")
		}
		return c, nil
	}
	cond, err := p.condition()
	if err != nil {
		return nil, err
	}
	return Criteria{{cond}}, nil
}

func (p *criteriaParser) condition() (Condition, error) {
	nameTok, ok := p.next()
	if !ok {
		return Condition{}, p.errorf(nameTok, "missing a condition at the end (e.g. IsInstalled=0)")
	}
	var name string
	for canon := range criteriaProperties {
		if !nameTok.quoted && strings.EqualFold(canon, nameTok.text) {
			name = canon
		}
	}
	if name == "" {
		return Condition{}, p.errorf(nameTok, "unknown property %q (want one of Type, IsInstalled, IsHidden, CategoryIDs, UpdateID, RevisionNumber, DeploymentAction, IsAssigned, BrowseOnly, AutoSelectOnWebSites, IsPresent, RebootRequired)", nameTok.text)
	}
	opTok, ok := p.next()
	op := opTok.text
	if opTok.quoted || !ok || op != "=" && op != "!=" && !strings.EqualFold(op, "contains") {
		return Condition{}, p.errorf(opTok, "want =, != or contains after %s", name)
	}
	op = strings.ToLower(op)
	switch {
	case op == "!=" && name != "Type":
		return Condition{}, p.errorf(opTok, "WUA accepts != only with Type")
	case op == "contains" && name != "CategoryIDs":
		return Condition{}, p.errorf(opTok, "contains goes with CategoryIDs only")
	case op != "contains" && name == "CategoryIDs":
		return Condition{}, p.errorf(opTok, "CategoryIDs takes contains, e.g. CategoryIDs contains '<guid>'")
	}
	valTok, ok := p.next()
	if !ok {
		return Condition{}, p.errorf(valTok, "missing the value of %s", name)
	}
	if criteriaProperties[name] {
		if !valTok.quoted {
			return Condition{}, p.errorf(valTok, "%s takes a quoted string, e.g. %s='...'", name, name)
		}
	} else if _, err := strconv.Atoi(valTok.text); valTok.quoted || err != nil {
		return Condition{}, p.errorf(valTok, "%s takes an integer, e.g. %s=0", name, name)
	}
	return Condition{Property: name, Op: op, Value: valTok.text}, nil
}
