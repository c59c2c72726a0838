package testserver

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// pgBinDirs are the places where Debian and others keep PostgreSQL's server
// binaries, newest first.
var pgBinDirs = []string{
	"/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin",
	"/usr/lib/postgresql/14/bin", "/usr/lib/postgresql/13/bin",
}

func pgBin(name string) (string, error) {
	cands := []string{name}
	for _, d := range pgBinDirs {
		cands = append(cands, filepath.Join(d, name))
	}
	return lookBin(cands...)
}

// StartPostgres initialises a PostgreSQL cluster under base (the system
// temporary directory when empty) and starts it on a free port of 127.0.0.1
// with a database "whycache". PostgreSQL refuses to run as root, so as root
// the server runs as the "postgres" user. The DSN is a pgx URL.
func StartPostgres(ctx context.Context, base string, opts ...Option) (*Server, error) {
	o := buildOptions(defaultPostgresMaxConnections, opts)
	initdb, err := pgBin("initdb")
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	postgres, err := pgBin("postgres")
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	createdb, err := pgBin("createdb")
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	cred, err := postgresCredential()
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	dir, owns, err := makeDir(base, "postgres")
	if err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("start postgres: %w", err)
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	logPath := filepath.Join(dir, "postgres.log")
	s := &Server{Kind: "postgres", Dir: dir, ownsDir: owns, Socket: dir, stopSig: syscall.SIGINT,
		Addr: fmt.Sprintf("127.0.0.1:%d", port)}
	if err := run(ctx, cred, initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
		"--no-sync", "--no-instructions"); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	err = startDaemon(s, cred, logPath, postgres, "-D", data,
		"-c", "listen_addresses=127.0.0.1", "-c", "port="+itoa(port),
		"-c", "unix_socket_directories="+dir, "-c", "max_connections="+itoa(o.maxConnections),
		"-c", "shared_buffers=256MB", "-c", "max_wal_size=2GB")
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := waitReady(ctx, s, logPath, func(ctx context.Context) error {
		return run(ctx, cred, createdb, "-h", "127.0.0.1", "-p", itoa(port), "-U", "postgres", "whycache")
	}); err != nil {
		return nil, err
	}
	s.DSN = fmt.Sprintf("postgres://postgres@%s/whycache?sslmode=disable", s.Addr)
	return s, nil
}

// postgresCredential returns the credential to run PostgreSQL with: nil when
// not root, the "postgres" user's when root.
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs a postgres user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}
