package testserver

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
)

// Environment variables that point the tests at servers started elsewhere
// (by `make test`, or a developer's own).
const (
	// EnvMySQLDSN is a go-sql-driver/mysql DSN of a MariaDB or MySQL server
	// whose user may create databases.
	EnvMySQLDSN = "WHYCACHE_TEST_MYSQL_DSN"
	// EnvPostgresDSN is a pgx URL of a PostgreSQL server whose user may
	// create databases.
	EnvPostgresDSN = "WHYCACHE_TEST_POSTGRES_DSN"
	// EnvRedisAddr is the host:port of a Redis server.
	EnvRedisAddr = "WHYCACHE_TEST_REDIS_ADDR"
	// EnvRedisSocket is the Unix socket path of the same Redis server.
	EnvRedisSocket = "WHYCACHE_TEST_REDIS_SOCKET"
	// EnvS3Endpoint is the URL (http://host:port) of an S3-compatible
	// server; EnvS3AccessKey, EnvS3SecretKey and EnvS3Bucket say how to use
	// it (a bucket the tests may fill), EnvS3Region which region to sign for
	// (default us-east-1).
	EnvS3Endpoint  = "WHYCACHE_TEST_S3_ENDPOINT"
	EnvS3AccessKey = "WHYCACHE_TEST_S3_ACCESS_KEY"
	EnvS3SecretKey = "WHYCACHE_TEST_S3_SECRET_KEY"
	EnvS3Bucket    = "WHYCACHE_TEST_S3_BUCKET"
	EnvS3Region    = "WHYCACHE_TEST_S3_REGION"
)

var (
	mu       sync.Mutex
	inMain   bool
	started  = map[string]*Server{}
	startErr = map[string]error{}
)

// Main runs the tests of a package that uses this package's servers, then
// the after functions (for example to print a benchmark summary), then stops
// the servers it started and exits. Call it from TestMain:
//
//	func TestMain(m *testing.M) { testserver.Main(m) }
func Main(m *testing.M, after ...func()) {
	mu.Lock()
	inMain = true
	mu.Unlock()
	code := m.Run()
	for _, f := range after {
		f()
	}
	mu.Lock()
	for kind, s := range started {
		if err := s.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "testserver: stop %s: %v\n", kind, err)
		}
	}
	mu.Unlock()
	os.Exit(code)
}

// unavailable fails the test under CI=true and skips it otherwise.
func unavailable(tb testing.TB, kind, env string, err error) {
	tb.Helper()
	msg := fmt.Sprintf("%s unavailable: %v (set %s, or run `make test-deps` and `make test`)", kind, err, env)
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

// shared returns the server of the given kind started for this test binary.
func shared(tb testing.TB, kind string, start func(context.Context, string) (*Server, error)) (*Server, error) {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	if !inMain {
		tb.Fatalf("testserver: %s needs TestMain to call testserver.Main", kind)
	}
	if s, ok := started[kind]; ok {
		return s, nil
	}
	if err, ok := startErr[kind]; ok {
		return nil, err
	}
	s, err := start(context.Background(), "")
	if err != nil {
		startErr[kind] = err
		return nil, err
	}
	started[kind] = s
	return s, nil
}

// MySQL returns the DSN of a MariaDB/MySQL server for the test: the one in
// $WHYCACHE_TEST_MYSQL_DSN, or one started for this test binary.
func MySQL(tb testing.TB) string {
	tb.Helper()
	if dsn := os.Getenv(EnvMySQLDSN); dsn != "" {
		return dsn
	}
	s, err := shared(tb, "mariadb", func(ctx context.Context, base string) (*Server, error) { return StartMariaDB(ctx, base) })
	if err != nil {
		unavailable(tb, "MariaDB", EnvMySQLDSN, err)
	}
	return s.DSN
}

// Postgres returns the URL of a PostgreSQL server for the test: the one in
// $WHYCACHE_TEST_POSTGRES_DSN, or one started for this test binary.
func Postgres(tb testing.TB) string {
	tb.Helper()
	if dsn := os.Getenv(EnvPostgresDSN); dsn != "" {
		return dsn
	}
	s, err := shared(tb, "postgres", func(ctx context.Context, base string) (*Server, error) { return StartPostgres(ctx, base) })
	if err != nil {
		unavailable(tb, "PostgreSQL", EnvPostgresDSN, err)
	}
	return s.DSN
}

// Redis returns the TCP address and Unix socket path of a Redis server for
// the test: the ones in $WHYCACHE_TEST_REDIS_ADDR and
// $WHYCACHE_TEST_REDIS_SOCKET, or one started for this test binary.
func Redis(tb testing.TB) (addr, socket string) {
	tb.Helper()
	if addr := os.Getenv(EnvRedisAddr); addr != "" {
		return addr, os.Getenv(EnvRedisSocket)
	}
	s, err := shared(tb, "redis", StartRedis)
	if err != nil {
		unavailable(tb, "Redis", EnvRedisAddr, err)
	}
	return s.Addr, s.Socket
}

// S3 returns an S3-compatible server for the test: the one described by
// $WHYCACHE_TEST_S3_ENDPOINT and its companions, or a versitygw server
// started for this test binary. Tests share the bucket: each should use a
// prefix of its own (see [S3Prefix]).
func S3(tb testing.TB) S3Config {
	tb.Helper()
	if ep := os.Getenv(EnvS3Endpoint); ep != "" {
		c := S3Config{Endpoint: ep, AccessKey: os.Getenv(EnvS3AccessKey), SecretKey: os.Getenv(EnvS3SecretKey),
			Bucket: os.Getenv(EnvS3Bucket), Region: os.Getenv(EnvS3Region)}
		if c.Region == "" {
			c.Region = S3Region
		}
		if c.Bucket == "" {
			tb.Fatalf("%s is set but %s is not", EnvS3Endpoint, EnvS3Bucket)
		}
		return c
	}
	s, err := shared(tb, "s3", StartS3)
	if err != nil {
		unavailable(tb, "S3 server (versitygw)", EnvS3Endpoint, err)
	}
	return s.S3()
}

// S3 returns how to reach an S3 server started by StartS3.
func (s *Server) S3() S3Config {
	return S3Config{Endpoint: s.DSN, AccessKey: S3AccessKey, SecretKey: S3SecretKey, Bucket: S3Bucket, Region: S3Region}
}

// S3Env returns the environment variables that point tests at s.
func (s *Server) S3Env() []string {
	c := s.S3()
	return []string{EnvS3Endpoint + "=" + c.Endpoint, EnvS3AccessKey + "=" + c.AccessKey,
		EnvS3SecretKey + "=" + c.SecretKey, EnvS3Bucket + "=" + c.Bucket, EnvS3Region + "=" + c.Region}
}

// S3Prefix returns a fresh key prefix for one test in the shared bucket.
func S3Prefix() string { return randomName("t-") }

func randomName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// MySQLDatabase creates a fresh database on the test's MariaDB/MySQL server,
// drops it when the test ends, and returns a DSN for it.
func MySQLDatabase(tb testing.TB) string {
	tb.Helper()
	cfg, err := mysql.ParseDSN(MySQL(tb))
	if err != nil {
		tb.Fatalf("parse %s: %v", EnvMySQLDSN, err)
	}
	name := randomName("whycache_t_")
	admin := cfg.Clone()
	admin.DBName = ""
	db, err := sql.Open("mysql", admin.FormatDSN())
	if err != nil {
		tb.Fatalf("open mysql: %v", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(tb.Context(), "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create database: %v", err)
	}
	tb.Cleanup(func() {
		db, err := sql.Open("mysql", admin.FormatDSN())
		if err != nil {
			tb.Errorf("open mysql: %v", err)
			return
		}
		defer db.Close()
		if _, err := db.Exec("DROP DATABASE " + name); err != nil {
			tb.Errorf("drop database %s: %v", name, err)
		}
	})
	cfg.DBName = name
	return cfg.FormatDSN()
}

// PostgresDatabase creates a fresh database on the test's PostgreSQL server,
// drops it when the test ends, and returns a URL for it.
func PostgresDatabase(tb testing.TB) string {
	tb.Helper()
	base := Postgres(tb)
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("parse %s: %v", EnvPostgresDSN, err)
	}
	name := randomName("whycache_t_")
	exec := func(ctx context.Context, stmt string) error {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, stmt)
		return err
	}
	if err := exec(tb.Context(), "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create database: %v", err)
	}
	tb.Cleanup(func() {
		if err := exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}
