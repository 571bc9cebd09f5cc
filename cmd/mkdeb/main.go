// Command mkdeb builds the watchfloor Debian package: a static binary (CGO_ENABLED=0) for each
// architecture asked, packaged with nfpm (as a Go library, no nfpm binary needed) together
// with the default configuration, the systemd unit, the man page and the maintainer scripts of
// appliance/dist.
//
//	go run ./cmd/mkdeb [-arch amd64,arm64] [-version 1.2.3] [-o dist/]
//
// It writes dist/watchfloor_<version>_<arch>.deb and prints each path with its size. Run it
// from anywhere inside the module. SOURCE_DATE_EPOCH, when set, fixes the files' times so
// that two builds of one commit give the same package. docs/install.md says how to install
// and check the package; appliance/dist/README.md what is in it and why.
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
)

// Arches are the architectures the package is built for (Go's and Debian's names agree).
var Arches = []string{"amd64", "arm64"}

// defaultVersion is the version of a development build.
const defaultVersion = "0.0.0-dev"

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mkdeb", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: go run ./cmd/mkdeb [-arch amd64,arm64] [-version VERSION] [-o DIR]\n")
		fs.PrintDefaults()
	}
	arches := fs.String("arch", strings.Join(Arches, ","), "comma-separated `ARCHES` to build: amd64, arm64")
	version := fs.String("version", defaultVersion, "package and binary `VERSION` (semver; 1.2.3-rc1 becomes 1.2.3~rc1)")
	out := fs.String("o", "dist", "output `DIR`")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "mkdeb: %v\n", err)
		return 1
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintf(stderr, "mkdeb: %v\n", err)
		return 1
	}
	list := strings.Split(*arches, ",")
	for _, arch := range list {
		if !known(arch) {
			fmt.Fprintf(stderr, "mkdeb: -arch: %q is not one of %s\n", arch, strings.Join(Arches, ", "))
			return 2
		}
	}
	for _, arch := range list {
		path, err := Build(ctx, root, arch, *version, *out)
		if err != nil {
			fmt.Fprintf(stderr, "mkdeb: %s: %v\n", arch, err)
			return 1
		}
		st, err := os.Stat(path)
		if err != nil {
			fmt.Fprintf(stderr, "mkdeb: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s\t%d bytes\n", path, st.Size())
	}
	return 0
}

func known(arch string) bool {
	for _, a := range Arches {
		if a == arch {
			return true
		}
	}
	return false
}

// moduleRoot is the directory of the module's go.mod, wherever the command runs from.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the watchfloor module")
	}
	return filepath.Dir(mod), nil
}

// BuildBinary compiles cmd/watchfloor for linux/arch without cgo, stripped, with its version
// stamped, into the file out.
func BuildBinary(ctx context.Context, root, arch, version, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -X main.version="+version, "-o", out, "./cmd/watchfloor")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, msg)
	}
	return nil
}

// Build compiles the binary for arch and packages it into outDir; it returns the .deb's path.
func Build(ctx context.Context, root, arch, version, outDir string) (string, error) {
	tmp, err := os.MkdirTemp("", "mkdeb-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "watchfloor")
	if err := BuildBinary(ctx, root, arch, version, bin); err != nil {
		return "", err
	}
	return Package(root, bin, arch, version, outDir, tmp)
}

// Package writes the .deb for a built binary into outDir, using tmp for the gzipped man page.
func Package(root, bin, arch, version, outDir, tmp string) (string, error) {
	info, err := Info(root, bin, arch, version, tmp)
	if err != nil {
		return "", err
	}
	path := filepath.Join(outDir, deb.Default.ConventionalFileName(info))
	var buf bytes.Buffer
	if err := deb.Default.Package(info, &buf); err != nil {
		return "", fmt.Errorf("nfpm: %w", err)
	}
	if err := writeAtomic(path, buf.Bytes()); err != nil {
		return "", err
	}
	return path, nil
}

// Info is the package's description for nfpm: what goes where, with which mode.
func Info(root, bin, arch, version, tmp string) (*nfpm.Info, error) {
	dist := func(name string) string { return filepath.Join(root, "appliance", "dist", name) }
	man := filepath.Join(tmp, "watchfloor.1.gz")
	if err := gzipFile(dist("watchfloor.1"), man); err != nil {
		return nil, err
	}
	file := func(src, dst string, mode os.FileMode) *files.Content {
		return &files.Content{Source: src, Destination: dst, FileInfo: &files.ContentFileInfo{Owner: "root", Group: "root", Mode: mode}}
	}
	conf := file(dist("watchfloor.yaml"), "/etc/watchfloor/watchfloor.yaml", 0o640) // postinst: root:watchfloor
	conf.Type = files.TypeConfig
	etc := &files.Content{Destination: "/etc/watchfloor", Type: files.TypeDir,
		FileInfo: &files.ContentFileInfo{Owner: "root", Group: "root", Mode: 0o750}}
	info := &nfpm.Info{
		Name:       "watchfloor",
		Arch:       arch,
		Platform:   "linux",
		Version:    version,
		Section:    "net",
		Priority:   "optional",
		Maintainer: "Watchfloor NOC engineering <noc@watchfloor.invalid>",
		Description: "network and security operations command center: appliance\n" +
			"Polls switches and routers over SNMP, receives traps and NetFlow/IPFIX/sFlow,\n" +
			"samples packets from a mirror port, correlates all of it against detection\n" +
			"rules, keeps it in an embedded store and streams it to the video wall.\n" +
			"One static binary, a hardened systemd unit, a default configuration.",
		Overridables: nfpm.Overridables{
			Depends: []string{"adduser"},
			Contents: files.Contents{
				file(bin, "/usr/bin/watchfloor", 0o755),
				etc,
				conf,
				file(dist("watchfloor.service"), "/usr/lib/systemd/system/watchfloor.service", 0o644),
				file(man, "/usr/share/man/man1/watchfloor.1.gz", 0o644),
				file(filepath.Join(root, "docs", "install.md"), "/usr/share/doc/watchfloor/install.md", 0o644),
				file(filepath.Join(root, "docs", "config.md"), "/usr/share/doc/watchfloor/config.md", 0o644),
			},
			Scripts: nfpm.Scripts{
				PostInstall: dist("postinst"),
				PreRemove:   dist("prerm"),
				PostRemove:  dist("postrm"),
			},
		},
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return nil, fmt.Errorf("nfpm: %w", err)
	}
	return info, nil
}

// gzipFile compresses src into dst the way Debian ships man pages: best compression, no name
// or time in the header (reproducible).
func gzipFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return err
	}
	if _, err := zw.Write(data); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(dst, buf.Bytes(), 0o644)
}

// writeAtomic replaces path with data: a reader never sees half a package.
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".mkdeb-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
