package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/watchfloor/watchfloor/console/users"
)

const userUsage = `usage:
  watchfloor user add NAME -role viewer|analyst|admin [-password-stdin] [-data DIR]
  watchfloor user passwd NAME [-password-stdin] [-data DIR]
  watchfloor user del NAME [-data DIR]
  watchfloor user disable|enable NAME [-data DIR]
  watchfloor user list [-data DIR]
  watchfloor user token NAME [-label L] [-role display] [-expires 720h] [-data DIR]
  watchfloor user tokens NAME [-data DIR]
  watchfloor user revoke TOKEN_ID [-data DIR]

The users live in DIR/users.json; this works while watchfloor runs (the file is locked
while it changes, and the console picks the change up within a second).
A password is read from the terminal without echo, or as one line from standard input.
`

// userIO is where the user command reads passwords: a terminal (no echo, asked twice) or
// lines of stdin.
type userIO struct {
	in       *bufio.Reader
	fd       int
	terminal bool
	out      io.Writer
}

// password reads a password: from the terminal without echo (twice, to catch typos)
// unless fromStdin, else one line of standard input.
func (u *userIO) password(fromStdin bool) ([]byte, error) {
	if u.terminal && !fromStdin {
		fmt.Fprint(u.out, "Password: ")
		a, err := term.ReadPassword(u.fd)
		fmt.Fprintln(u.out)
		if err != nil {
			return nil, err
		}
		fmt.Fprint(u.out, "Again: ")
		b, err := term.ReadPassword(u.fd)
		fmt.Fprintln(u.out)
		if err != nil {
			return nil, err
		}
		if string(a) != string(b) {
			return nil, errors.New("the passwords differ")
		}
		return a, nil
	}
	line, err := u.in.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return nil, errors.New("no password on standard input")
	}
	return []byte(strings.TrimRight(line, "\r\n")), nil
}

func userCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, userUsage)
		return 2
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("user "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data", "./watchfloor-data", "data `DIR` holding users.json")
	var role, label, expires *string
	var pwStdin *bool
	switch sub {
	case "add":
		role = fs.String("role", "", "`ROLE`: viewer (display), analyst or admin")
		pwStdin = fs.Bool("password-stdin", false, "read the password as one line of standard input")
	case "passwd":
		pwStdin = fs.Bool("password-stdin", false, "read the password as one line of standard input")
	case "token":
		role = fs.String("role", "", "the token's `ROLE` (at most the user's; default the user's): display for a wall kiosk")
		label = fs.String("label", "", "a `LABEL` for people, e.g. \"wall 2\"")
		expires = fs.String("expires", "", "expire after this `DURATION` (e.g. 720h); default never")
	case "del", "disable", "enable", "list", "tokens", "revoke":
	case "help", "-h", "--help":
		fmt.Fprint(stdout, userUsage)
		return 0
	default:
		fmt.Fprintf(stderr, "watchfloor user: unknown command %q\n%s", sub, userUsage)
		return 2
	}
	// The name comes first (user add ann -role analyst), flags may follow.
	var pos []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		pos, args = append(pos, args[0]), args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	pos = append(pos, fs.Args()...)
	want := 1
	if sub == "list" {
		want = 0
	}
	if len(pos) != want {
		fmt.Fprintf(stderr, "watchfloor user %s: want %d argument(s), got %d\n%s", sub, want, len(pos), userUsage)
		return 2
	}
	store, err := users.Open(*dataDir, users.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "watchfloor user: %v\n", err)
		return 1
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "watchfloor user %s: %v\n", sub, strings.TrimPrefix(err.Error(), "users: "))
		return 1
	}
	uio := &userIO{in: bufio.NewReader(stdin), out: stderr}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		uio.fd, uio.terminal = int(f.Fd()), true
	}
	switch sub {
	case "add":
		r, err := users.ParseRole(*role)
		if err != nil {
			fmt.Fprintf(stderr, "watchfloor user add: -role: want viewer, display, analyst or admin\n")
			return 2
		}
		pw, err := uio.password(*pwStdin)
		if err != nil {
			return fail(err)
		}
		if err := store.Add(pos[0], r, pw); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "user %s added (%s)\n", pos[0], r)
	case "passwd":
		if _, ok := store.Get(pos[0]); !ok {
			return fail(fmt.Errorf("%q: %w", pos[0], users.ErrNotFound))
		}
		pw, err := uio.password(*pwStdin)
		if err != nil {
			return fail(err)
		}
		if err := store.SetPassword(pos[0], pw); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "password of %s changed; its sessions end\n", pos[0])
	case "del":
		if err := store.Delete(pos[0]); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "user %s deleted, with its tokens\n", pos[0])
	case "disable", "enable":
		if err := store.SetDisabled(pos[0], sub == "disable"); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "user %s %sd\n", pos[0], sub)
	case "list":
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tCREATED\tTOKENS\tSTATE")
		for _, u := range store.List() {
			state := "active"
			if u.Disabled {
				state = "disabled"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", u.Name, u.Role, u.Created.Format(time.DateOnly), u.Tokens, state)
		}
		tw.Flush()
	case "token":
		u, ok := store.Get(pos[0])
		if !ok {
			return fail(fmt.Errorf("%q: %w", pos[0], users.ErrNotFound))
		}
		r := u.Role
		if *role != "" {
			if r, err = users.ParseRole(*role); err != nil {
				fmt.Fprintf(stderr, "watchfloor user token: -role: want viewer, display, analyst or admin\n")
				return 2
			}
		}
		var exp time.Time
		if *expires != "" {
			d, err := time.ParseDuration(*expires)
			if err != nil || d <= 0 {
				fmt.Fprintf(stderr, "watchfloor user token: -expires: want a positive duration such as 720h\n")
				return 2
			}
			exp = time.Now().Add(d)
		}
		secret, t, err := store.NewToken(pos[0], *label, r, exp)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stderr, "token %s for %s (%s); shown once, keep it now:\n", t.ID, pos[0], t.Role)
		fmt.Fprintln(stdout, secret)
	case "tokens":
		ts, err := store.Tokens(pos[0])
		if err != nil {
			return fail(err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tROLE\tLABEL\tCREATED\tLAST USED\tEXPIRES")
		for _, t := range ts {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Role, t.Label, t.Created.Format(time.DateOnly),
				orDash(t.LastUsed, time.DateTime), orDash(t.Expires, time.DateTime))
		}
		tw.Flush()
	case "revoke":
		t, err := store.Revoke(pos[0])
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "token %s of %s revoked\n", t.ID, t.User)
	}
	return 0
}

func orDash(t time.Time, layout string) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(layout)
}
