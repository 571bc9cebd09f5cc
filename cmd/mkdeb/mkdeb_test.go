package main

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor/internal/testpeer"
)

var (
	tmpRoot string // removed after the tests
	hostBin struct {
		once sync.Once
		path string
		err  error
	}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mkdeb-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tmpRoot = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func root(t *testing.T) string {
	t.Helper()
	r, err := moduleRoot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// watchfloorBinary builds cmd/watchfloor once for this machine, with go test's own build
// settings so the build cache serves it (the cross-compiled static builds are
// TestBuildBothArches').
func watchfloorBinary(t *testing.T) string {
	t.Helper()
	hostBin.once.Do(func() {
		hostBin.path = filepath.Join(tmpRoot, "watchfloor")
		cmd := exec.Command("go", "build", "-ldflags", "-X main.version=1.2.3-rc1", "-o", hostBin.path, "./cmd/watchfloor")
		cmd.Dir = root(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			hostBin.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if hostBin.err != nil {
		t.Fatal(hostBin.err)
	}
	return hostBin.path
}

// watchfloor runs the binary; it returns stdout+stderr and the exit code.
func watchfloor(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(watchfloorBinary(t), args...)
	cmd.Dir = t.TempDir()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil && cmd.ProcessState == nil {
		t.Fatal(err)
	}
	return out.String(), cmd.ProcessState.ExitCode()
}

// usageCommands reads the subcommands and the flags of each top-level entry from the
// binary's --help: "rules check", "user add", "run"…, each with the flags its entry shows.
func usageCommands(t *testing.T, help string) map[string][]string {
	t.Helper()
	var entries []string
	for _, line := range strings.Split(help, "\n") {
		switch {
		case strings.HasPrefix(line, "  watchfloor "):
			entries = append(entries, strings.TrimPrefix(line, "  watchfloor "))
		case len(entries) > 0 && regexp.MustCompile(`^ {7}[|\[]`).MatchString(line):
			entries[len(entries)-1] += " " + strings.TrimSpace(line)
		}
	}
	if len(entries) < 5 {
		t.Fatalf("--help lists %d commands:\n%s", len(entries), help)
	}
	word := regexp.MustCompile(`^[a-z][a-z-]*$`)
	flagRE := regexp.MustCompile(`-[a-z][a-z-]*`)
	cmds := map[string][]string{}
	for _, e := range entries {
		flags := flagRE.FindAllString(e, -1)
		var top string
		for i, part := range strings.Split(e, " | ") {
			f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(part), "| "))
			if len(f) == 0 {
				continue
			}
			if i == 0 {
				top = strings.Trim(f[0], "[]")
				f = f[1:]
			} else if f[0] == top {
				f = f[1:]
			}
			name := top
			if len(f) > 0 && word.MatchString(f[0]) {
				name += " " + f[0]
			}
			cmds[name] = flags
		}
	}
	return cmds
}

// manSections reads the man page's command sections (.SS "watchfloor X") and the flags each
// documents in a .TP entry.
func manSections(t *testing.T) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root(t), "appliance", "dist", "watchfloor.1"))
	if err != nil {
		t.Fatal(err)
	}
	secs := map[string][]string{}
	var cur string
	lines := strings.Split(string(data), "\n")
	tag := regexp.MustCompile(`^\.B[IR]? \\-([a-z\\-]+)`)
	for i, l := range lines {
		if strings.HasPrefix(l, ".SH ") {
			cur = ""
		}
		if name, ok := strings.CutPrefix(l, `.SS "watchfloor `); ok {
			cur = strings.TrimSuffix(name, `"`)
			secs[cur] = []string{}
			continue
		}
		if cur != "" && l == ".TP" && i+1 < len(lines) {
			if m := tag.FindStringSubmatch(lines[i+1]); m != nil {
				secs[cur] = append(secs[cur], "-"+strings.ReplaceAll(m[1], `\-`, "-"))
			}
		}
	}
	return secs
}

// flagsOf runs `watchfloor CMD -h` and reads the flags the flag package lists.
func flagsOf(t *testing.T, cmd string) []string {
	t.Helper()
	out, _ := watchfloor(t, append(strings.Fields(cmd), "-h")...)
	var flags []string
	for _, m := range regexp.MustCompile(`(?m)^  (-[a-z][a-z-]*)`).FindAllStringSubmatch(out, -1) {
		flags = append(flags, m[1])
	}
	return flags
}

// TestManPageMatchesBinary keeps the man page, --help and the flags the binary accepts in
// step: a subcommand in one and not the other fails, and so does a flag a command accepts
// that its man section or its --help entry leaves out, or a documented flag it refuses.
func TestManPageMatchesBinary(t *testing.T) {
	help, code := watchfloor(t, "--help")
	if code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	usage := usageCommands(t, help)
	man := manSections(t)
	var u, m []string
	for c := range usage {
		u = append(u, c)
	}
	for c := range man {
		m = append(m, c)
	}
	slices.Sort(u)
	slices.Sort(m)
	if !slices.Equal(u, m) {
		t.Errorf("subcommands differ:\n  --help:   %q\n  man page: %q", u, m)
	}
	for _, c := range u {
		accepted := flagsOf(t, c)
		for _, f := range accepted {
			if !slices.Contains(man[c], f) {
				t.Errorf("watchfloor %s accepts %s: not in its man page section", c, f)
			}
			if !slices.Contains(usage[c], f) {
				t.Errorf("watchfloor %s accepts %s: not in --help", c, f)
			}
		}
		for _, f := range man[c] {
			if !slices.Contains(accepted, f) {
				t.Errorf("the man page documents %s for watchfloor %s, which does not accept it", f, c)
			}
		}
	}
	if len(u) < 20 {
		t.Errorf("only %d subcommands found: %q", len(u), u)
	}
	if out, code := watchfloor(t, "version"); code != 0 || out != "watchfloor 1.2.3-rc1\n" {
		t.Errorf("version: %q, exit %d", out, code)
	}
	if out, code := watchfloor(t, "-h"); code != 0 || out != help {
		t.Errorf("-h differs from --help (exit %d)", code)
	}
}

// TestManPageRenders runs the real man(1) over the page and wants no warning.
func TestManPageRenders(t *testing.T) {
	man := testpeer.Program(t, "man")
	cmd := exec.Command(man, "-l", "--warnings=w", filepath.Join(root(t), "appliance", "dist", "watchfloor.1"))
	cmd.Env = append(os.Environ(), "MANWIDTH=80", "MANPAGER=cat", "PAGER=cat")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("man: %v\n%s", err, stderr.String())
	}
	for _, want := range []string{"watchfloor user revoke", "SIGHUP", "/etc/watchfloor/watchfloor.yaml"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
}

// TestDefaultConfig checks the shipped configuration, and the one its commented examples
// make when uncommented (devices, traps, capture), with the real binary.
func TestDefaultConfig(t *testing.T) {
	src := filepath.Join(root(t), "appliance", "dist", "watchfloor.yaml")
	if out, code := watchfloor(t, "config", "check", src); code != 0 {
		t.Fatalf("config check: %s", out)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var full []string
	inExample := false
	uncommented := 0
	for _, l := range strings.Split(string(data), "\n") {
		switch {
		case regexp.MustCompile(`^# [a-z_]+:$`).MatchString(l):
			inExample = true
		case inExample && regexp.MustCompile(`^# {2,}\S`).MatchString(l):
		default:
			inExample = false
		}
		if inExample {
			l = strings.TrimPrefix(l, "# ")
			uncommented++
		}
		if l == "devices: []" {
			continue
		}
		full = append(full, l)
	}
	if uncommented < 15 {
		t.Fatalf("only %d example lines found", uncommented)
	}
	p := filepath.Join(t.TempDir(), "full.yaml")
	if err := os.WriteFile(p, []byte(strings.Join(full, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := watchfloor(t, "config", "check", p)
	if code != 0 || !strings.Contains(out, "2 devices") {
		t.Fatalf("the examples uncommented: exit %d: %s\n%s", code, out, strings.Join(full, "\n"))
	}
}

// unitLines reads the unit's KEY=VALUE lines (repeated keys in order).
func unitLines(t *testing.T, path string) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	kv := map[string][]string{}
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
			kv[k] = append(kv[k], v)
		}
	}
	return kv
}

func TestUnitHardening(t *testing.T) {
	kv := unitLines(t, filepath.Join(root(t), "appliance", "dist", "watchfloor.service"))
	for k, want := range map[string]string{
		"Type":                    "notify",
		"User":                    "watchfloor",
		"ExecStartPre":            "/usr/bin/watchfloor config check /etc/watchfloor/watchfloor.yaml",
		"ExecStart":               "/usr/bin/watchfloor run -config /etc/watchfloor/watchfloor.yaml -data /var/lib/watchfloor",
		"AmbientCapabilities":     "CAP_NET_RAW CAP_NET_BIND_SERVICE",
		"CapabilityBoundingSet":   "CAP_NET_RAW CAP_NET_BIND_SERVICE",
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"StateDirectory":          "watchfloor",
		"PrivateTmp":              "yes",
		"ProtectHome":             "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectControlGroups":    "yes",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX AF_PACKET AF_NETLINK",
		"RestrictNamespaces":      "yes",
		"LockPersonality":         "yes",
		"MemoryDenyWriteExecute":  "yes",
		"SystemCallArchitectures": "native",
		"ReadWritePaths":          "",
		"SupplementaryGroups":     "",
		"PermissionsStartOnly":    "",
		"DynamicUser":             "",
		"NotifyAccess":            "",
		"ProcSubset":              "", // gc.go reads /proc/meminfo, the flow collector /proc/net
		"PrivateNetwork":          "",
	} {
		got := strings.Join(kv[k], "\n")
		if got != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
	if r := kv["ExecReload"]; len(r) == 0 || r[len(r)-1] != "/bin/kill -HUP $MAINPID" {
		t.Errorf("ExecReload=%q: the last must be /bin/kill -HUP $MAINPID", r)
	}
}

// verifiableUnit copies the unit with /usr/bin/watchfloor pointing at a built binary:
// systemd-analyze verify wants the executables to exist.
func verifiableUnit(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root(t), "appliance", "dist", "watchfloor.service"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "watchfloor.service")
	unit := strings.ReplaceAll(string(data), "/usr/bin/watchfloor", watchfloorBinary(t))
	if err := os.WriteFile(p, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestUnitVerifies(t *testing.T) {
	sa := testpeer.Program(t, "systemd-analyze")
	unit := verifiableUnit(t)
	// --man=no: the man page is installed by the package, not on this machine (the install
	// test verifies the installed unit with it).
	out, err := exec.Command(sa, "verify", "--man=no", unit).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// A broken unit is refused: the check can fail.
	bad := filepath.Join(t.TempDir(), "watchfloor.service")
	data, _ := os.ReadFile(unit)
	os.WriteFile(bad, bytes.Replace(data, []byte("Type=notify"), []byte("Type=notfiy"), 1), 0o644)
	if out, err := exec.Command(sa, "verify", "--man=no", bad).CombinedOutput(); err == nil && len(out) == 0 {
		t.Error("systemd-analyze verify accepted Type=notfiy")
	}
}

func TestUnitSecurityExposure(t *testing.T) {
	sa := testpeer.Program(t, "systemd-analyze")
	out, _ := exec.Command(sa, "security", "--offline=true", "--no-pager", verifiableUnit(t)).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for watchfloor\.service: (\d+\.\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level:\n%s", out)
	}
	level, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("systemd-analyze security: exposure %.1f", level)
	if level > 2.0 {
		t.Errorf("exposure %.1f, want at most 2.0:\n%s", level, out)
	}
}

// buildDeb packages the host binary as arch amd64 (the cross-compiled ones are
// TestBuildBothArches').
func buildDeb(t *testing.T, version string) string {
	t.Helper()
	dir := t.TempDir()
	p, err := Package(root(t), watchfloorBinary(t), "amd64", version, dir, dir)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// checkContents lists the package with dpkg-deb and checks what it holds.
func checkContents(t *testing.T, debPath, arch, version string) {
	t.Helper()
	dpkgDeb := testpeer.Program(t, "dpkg-deb")
	out, err := exec.Command(dpkgDeb, "--contents", debPath).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb --contents: %v\n%s", err, out)
	}
	entries := map[string]string{} // path → "mode owner"
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if len(f) < 6 {
			t.Fatalf("odd line %q", l)
		}
		entries[strings.TrimPrefix(f[len(f)-1], ".")] = f[0] + " " + f[1]
	}
	for path, want := range map[string]string{
		"/usr/bin/watchfloor":                        "-rwxr-xr-x root/root",
		"/etc/watchfloor/":                           "drwxr-x--- root/root",
		"/etc/watchfloor/watchfloor.yaml":            "-rw-r----- root/root",
		"/usr/lib/systemd/system/watchfloor.service": "-rw-r--r-- root/root",
		"/usr/share/man/man1/watchfloor.1.gz":        "-rw-r--r-- root/root",
		"/usr/share/doc/watchfloor/install.md":       "-rw-r--r-- root/root",
		"/usr/share/doc/watchfloor/config.md":        "-rw-r--r-- root/root",
	} {
		if got := entries[path]; got != want {
			t.Errorf("%s: %q, want %q", path, got, want)
		}
	}
	for _, c := range []struct{ field, want string }{
		{"Package", "watchfloor"},
		{"Architecture", arch},
		{"Version", version},
		{"Depends", "adduser"},
	} {
		got, err := exec.Command(dpkgDeb, "--field", debPath, c.field).Output()
		if err != nil || strings.TrimSpace(string(got)) != c.want {
			t.Errorf("%s: %q (%v), want %q", c.field, got, err, c.want)
		}
	}
	ctl := t.TempDir()
	if out, err := exec.Command(dpkgDeb, "--control", debPath, ctl).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb --control: %v\n%s", err, out)
	}
	if got, _ := os.ReadFile(filepath.Join(ctl, "conffiles")); string(got) != "/etc/watchfloor/watchfloor.yaml\n" {
		t.Errorf("conffiles: %q", got)
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		got, err := os.ReadFile(filepath.Join(ctl, s))
		want, _ := os.ReadFile(filepath.Join(root(t), "appliance", "dist", s))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: not the one in appliance/dist (%v)", s, err)
		}
		if st, err := os.Stat(filepath.Join(ctl, s)); err != nil || st.Mode().Perm()&0o111 == 0 {
			t.Errorf("%s is not executable", s)
		}
	}
	if postinst, _ := os.ReadFile(filepath.Join(ctl, "postinst")); !strings.Contains(string(postinst), "adduser --system") {
		t.Error("postinst does not create the system user")
	}
}

func TestPackageContents(t *testing.T) {
	p := buildDeb(t, "1.2.3-rc1")
	if filepath.Base(p) != "watchfloor_1.2.3~rc1_amd64.deb" {
		t.Errorf("file name %s", filepath.Base(p))
	}
	checkContents(t, p, "amd64", "1.2.3~rc1")
}

// installScript installs a .deb with the real dpkg into a throwaway root: an overlay of /
// whose writes go to a tmpfs, mounted in the private mount namespace unshare(1) gives it.
// The maintainer scripts run chrooted there (adduser too); the real system sees nothing.
const installScript = `set -eu
W=$1 DEB=$2
fail_env() { echo "ENV: $*" >&2; exit 3; }
mount -t tmpfs -o size=512m tmpfs "$W" || fail_env "tmpfs"
mkdir -p "$W/upper" "$W/work" "$W/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$W/upper,workdir=$W/work" "$W/root" || fail_env "overlay"
R=$W/root
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
mount -t tmpfs tmpfs "$R/tmp"
mount -t tmpfs tmpfs "$R/run"
cp "$DEB" "$R/tmp/watchfloor.deb"
inroot() { chroot "$R" "$@"; }
inroot dpkg -i /tmp/watchfloor.deb
echo "status=$(inroot dpkg-query -W -f='${Status} ${Version}' watchfloor)"
echo "user=$(inroot getent passwd watchfloor | cut -d: -f1,6,7)"
echo "conf=$(inroot stat -c '%U:%G %a' /etc/watchfloor/watchfloor.yaml /etc/watchfloor | tr '\n' ' ')"
echo "version=$(inroot /usr/bin/watchfloor version)"
inroot /usr/bin/watchfloor --help | grep -q 'watchfloor config check FILE' && echo "help=ok"
echo "check=$(inroot runuser -u watchfloor -- /usr/bin/watchfloor config check /etc/watchfloor/watchfloor.yaml)"
if inroot sh -c 'command -v systemd-analyze' >/dev/null; then
	echo "verify=$(inroot systemd-analyze verify /usr/lib/systemd/system/watchfloor.service 2>&1 && echo ok)"
fi
echo "man=$(inroot sh -c 'MANWIDTH=80 man watchfloor 2>&1 | grep -q "watchfloor user revoke" && echo ok')"
inroot dpkg --purge watchfloor >/dev/null
echo "purged=$(inroot sh -c 'test -e /usr/bin/watchfloor || test -e /usr/lib/systemd/system/watchfloor.service || echo yes')"
`

func TestInstallIntoThrowawayRoot(t *testing.T) {
	testpeer.Root(t)
	unshare := testpeer.Program(t, "unshare")
	testpeer.Program(t, "dpkg")
	testpeer.Program(t, "adduser")
	testpeer.Program(t, "runuser")
	if _, err := os.Stat("/usr/bin/watchfloor"); err == nil {
		t.Skip("watchfloor is installed on this machine: the overlay would hide what the test installs")
	}
	_, hostUserErr := exec.Command("getent", "passwd", "watchfloor").Output()

	deb := buildDeb(t, "1.2.3-rc1")
	w := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, "--mount", "--propagation", "private", "bash", "-c", installScript, "install", w, deb)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if cmd.ProcessState != nil && cmd.ProcessState.ExitCode() == 3 || strings.Contains(stderr.String(), "unshare failed") {
		testpeer.Missing(t, "no private overlay root here: "+stderr.String())
	}
	if err != nil {
		t.Fatalf("install: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	got := map[string]string{}
	for _, l := range strings.Split(stdout.String(), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			got[k] = strings.TrimSpace(v)
		}
	}
	t.Logf("in the throwaway root:\n%s", stdout.String())
	for k, want := range map[string]string{
		"status":  "install ok installed 1.2.3~rc1",
		"user":    "watchfloor:/var/lib/watchfloor:/usr/sbin/nologin",
		"conf":    "root:watchfloor 640 root:watchfloor 750",
		"version": "watchfloor 1.2.3-rc1",
		"help":    "ok",
		"check":   "/etc/watchfloor/watchfloor.yaml: ok (site site-1, 0 devices)",
		"man":     "ok",
		"purged":  "yes",
	} {
		if got[k] != want {
			t.Errorf("%s: %q, want %q", k, got[k], want)
		}
	}
	if v, ok := got["verify"]; ok && v != "ok" {
		t.Errorf("systemd-analyze verify of the installed unit: %s", v)
	}
	// The real system is as it was.
	if _, err := os.Stat("/usr/bin/watchfloor"); err == nil {
		t.Error("/usr/bin/watchfloor appeared on the real system")
	}
	if _, err := exec.Command("getent", "passwd", "watchfloor").Output(); hostUserErr != nil && err == nil {
		t.Error("the user watchfloor appeared on the real system")
	}
}

// TestBuildBothArches cross-compiles the static binaries and builds both packages the way
// `go run ./cmd/mkdeb` does. A cold build cache makes this minutes, so it runs when asked:
// WATCHFLOOR_PACKAGE_BUILD=1 (.ci/run does).
func TestBuildBothArches(t *testing.T) {
	if os.Getenv("WATCHFLOOR_PACKAGE_BUILD") != "1" {
		t.Skip("set WATCHFLOOR_PACKAGE_BUILD=1 to cross-compile and package both architectures")
	}
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	if code := run(context.Background(), []string{"-version", "2.0.0", "-o", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("mkdeb: exit %d: %s", code, stderr.String())
	}
	t.Logf("mkdeb in %v:\n%s", time.Since(start).Round(time.Second), stdout.String())
	for arch, machine := range map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64} {
		deb := filepath.Join(out, "watchfloor_2.0.0_"+arch+".deb")
		checkContents(t, deb, arch, "2.0.0")
		x := t.TempDir()
		if o, err := exec.Command("dpkg-deb", "-x", deb, x).CombinedOutput(); err != nil {
			t.Fatalf("dpkg-deb -x: %v\n%s", err, o)
		}
		bin := filepath.Join(x, "usr", "bin", "watchfloor")
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		if f.Machine != machine {
			t.Errorf("%s: machine %v", arch, f.Machine)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("%s: not static: %v", arch, p.Type)
			}
		}
		if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
			t.Errorf("%s: links %v", arch, libs)
		}
		f.Close()
		st, _ := os.Stat(bin)
		t.Logf("%s: binary %d bytes (%.1f MiB), package %s", arch, st.Size(), float64(st.Size())/(1<<20), deb)
		if arch == "amd64" {
			o, err := exec.Command(bin, "version").Output()
			if err != nil || string(o) != "watchfloor 2.0.0\n" {
				t.Errorf("static amd64 binary: version %q, %v", o, err)
			}
		}
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{{"-arch", "mips"}, {"extra"}, {"-nope"}} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), append(args, "-o", t.TempDir()), &out, &errb); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}

// TestRunNotifiesSystemd runs `watchfloor run` the way the Type=notify unit does, with a real
// unixgram socket as the service manager's end: READY=1 once it listens, RELOADING=1 and
// READY=1 around SIGHUP, STOPPING=1 on SIGTERM, then a clean exit.
func TestRunNotifiesSystemd(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cfg := filepath.Join(dir, "watchfloor.yaml")
	if err := os.WriteFile(cfg, []byte("site: notify-test\nconsole:\n  listen: 127.0.0.1:0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(watchfloorBinary(t), "run", "-config", cfg, "-data", filepath.Join(dir, "data"))
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock, "WATCHFLOOR_TOKEN=notify-test-token-0123456789")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-done
		}
	}()
	next := func(want string) {
		t.Helper()
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		buf := make([]byte, 4096)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %q: %v\n%s", want, err, out.String())
		}
		if got := string(buf[:n]); !strings.HasPrefix(got, want) {
			t.Fatalf("got %q, want %q…", got, want)
		}
	}
	next("READY=1\nSTATUS=site notify-test, 0 devices, console on 127.0.0.1:")
	cmd.Process.Signal(syscall.SIGHUP)
	next("RELOADING=1\nMONOTONIC_USEC=")
	next("READY=1\n")
	cmd.Process.Signal(syscall.SIGTERM)
	next("STOPPING=1\n")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit 30 s after SIGTERM\n%s", out.String())
	}
}
