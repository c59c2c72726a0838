package logbench

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/dirstore"
	"github.com/whycache/whycache/pkg/logstore/mysqlstore"
	"github.com/whycache/whycache/pkg/logstore/pgstore"
)

// backend is a store under test in its own fresh database or directory.
type backend struct {
	name  string
	open  func(ctx context.Context, opts logstore.Options) (logstore.Store, error)
	raw   rawInserter // nil when there is no SQL ceiling to measure
	close func()
}

func newBackend(ctx context.Context, name string, cfg Config) (*backend, error) {
	switch name {
	case "dir":
		return dirBackend(cfg)
	case "mysql", "mariadb":
		return mysqlBackend(ctx, cfg.MySQLDSN)
	case "postgres", "postgresql":
		return postgresBackend(ctx, cfg.PostgresDSN)
	}
	return nil, fmt.Errorf("unknown backend %q (want dir, mysql or postgres)", name)
}

func dirBackend(cfg Config) (*backend, error) {
	dir, err := os.MkdirTemp(cfg.Dir, "whycache-logbench-")
	if err != nil {
		return nil, err
	}
	return &backend{
		name: "dir",
		open: func(ctx context.Context, opts logstore.Options) (logstore.Store, error) {
			return dirstore.Open(ctx, dir, opts)
		},
		close: func() { os.RemoveAll(dir) },
	}, nil
}

func benchDBName() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "whycache_bench_" + hex.EncodeToString(b[:])
}

func mysqlBackend(ctx context.Context, dsn string) (*backend, error) {
	if dsn == "" {
		return nil, fmt.Errorf("no MySQL DSN (set WHYCACHE_TEST_MYSQL_DSN or -mysql)")
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse DSN %s: %w", mysqlstore.RedactDSN(dsn), err)
	}
	admin := cfg.Clone()
	admin.DBName = ""
	db, err := sql.Open("mysql", admin.FormatDSN())
	if err != nil {
		return nil, err
	}
	name := benchDBName()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		db.Close()
		return nil, fmt.Errorf("create database: %w", err)
	}
	cfg.DBName = name
	bdsn := cfg.FormatDSN()
	raw, err := newMySQLRaw(bdsn)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &backend{
		name: "mariadb",
		open: func(ctx context.Context, opts logstore.Options) (logstore.Store, error) {
			return mysqlstore.Open(ctx, bdsn, opts)
		},
		raw: raw,
		close: func() {
			raw.close()
			_, _ = db.Exec("DROP DATABASE " + name)
			db.Close()
		},
	}, nil
}

func postgresBackend(ctx context.Context, dsn string) (*backend, error) {
	if dsn == "" {
		return nil, fmt.Errorf("no PostgreSQL DSN (set WHYCACHE_TEST_POSTGRES_DSN or -postgres)")
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse DSN %s: want a postgres:// URL", pgstore.RedactDSN(dsn))
	}
	name := benchDBName()
	exec := func(ctx context.Context, stmt string) error {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, stmt)
		return err
	}
	if err := exec(ctx, "CREATE DATABASE "+name); err != nil {
		return nil, fmt.Errorf("create database: %w", err)
	}
	u.Path = "/" + name
	bdsn := u.String()
	raw, err := newPostgresRaw(ctx, bdsn)
	if err != nil {
		return nil, err
	}
	return &backend{
		name: "postgres",
		open: func(ctx context.Context, opts logstore.Options) (logstore.Store, error) {
			return pgstore.Open(ctx, bdsn, opts)
		},
		raw: raw,
		close: func() {
			raw.close()
			_ = exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)")
		},
	}, nil
}
