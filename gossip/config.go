package gossip

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/shoal-dev/shoal/clock"
)

// DefaultPort is the gossip port used when none is configured, and when an
// address given to Join has no port.
const DefaultPort = 7946

// KeySize is the size of a gossip encryption key (AES-256).
const KeySize = 32

// LeftRetention is how long a member that left gracefully stays in the
// table before it is dropped.
const LeftRetention = 10 * time.Minute

// updateTimeout bounds how long UpdateMeta waits for its broadcast.
const updateTimeout = 5 * time.Second

// Config configures a Gossip. Only Name and Meta.ID are required, plus Keys
// unless Insecure.
type Config struct {
	Name          string // node name, unique in the cluster (required; the agent defaults it to the hostname)
	BindAddr      string // "" = 0.0.0.0
	BindPort      int    // 0 = DefaultPort
	AdvertiseAddr string // "" = derived from BindAddr (memberlist's rules)
	AdvertisePort int    // 0 = the bind port

	// Keys are the gossip encryption keys, KeySize bytes each; the first
	// is the primary (used to encrypt), all are tried to decrypt.
	// Required unless Insecure.
	Keys [][]byte
	// Insecure runs without encryption. It cannot be combined with Keys.
	Insecure bool

	Meta   Meta         // what this node advertises; Meta.ID is required
	Logger *slog.Logger // nil = slog.Default()
	Clock  clock.Clock  // nil = clock.Real{}; used for Since, retention and RetryJoin backoff

	// Transport replaces memberlist's UDP/TCP transport (e.g. a
	// memberlist.MockNetwork transport in tests). nil = real network.
	Transport memberlist.Transport

	// FailAfter is how long a member may be silent before it is declared
	// failed. Nonzero derives the failure detector from it (see
	// DetectorFor): no member is declared failed before it has been
	// silent for FailAfter, one that wakes sooner refutes its suspicion,
	// and a dead one is declared failed within about FailAfter + 3 probe
	// intervals. Zero keeps memberlist's LAN defaults, which declare a
	// dead member failed after 5 to 8 s. Any tuning field below that is
	// set wins over the derived value.
	FailAfter time.Duration

	// ReconnectInterval is how often the node tries to rejoin one member
	// declared failed, so that gossip heals after a partition; zero = 4
	// probe intervals.
	ReconnectInterval time.Duration

	// Tuning; zero = derived from FailAfter, or memberlist's LAN defaults
	// (DefaultLANConfig) without it.
	ProbeInterval    time.Duration
	ProbeTimeout     time.Duration
	GossipInterval   time.Duration
	PushPullInterval time.Duration
	SuspicionMult    int
}

// validate checks cfg and fills defaults in place.
func (cfg *Config) validate() error {
	if cfg.Name == "" {
		return ErrNoName
	}
	if cfg.Meta.ID == "" {
		return ErrNoID
	}
	if cfg.Insecure && len(cfg.Keys) > 0 {
		return fmt.Errorf("%w: Insecure is set together with %d key(s); use one or the other", ErrBadKey, len(cfg.Keys))
	}
	if !cfg.Insecure && len(cfg.Keys) == 0 {
		return ErrNoKey
	}
	for i, k := range cfg.Keys {
		if len(k) != KeySize {
			return fmt.Errorf("%w: key %d is %d bytes, want %d (generate one with GenerateKey)", ErrBadKey, i, len(k), KeySize)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.BindAddr == "" {
		cfg.BindAddr = "0.0.0.0"
	}
	if cfg.BindPort == 0 {
		cfg.BindPort = DefaultPort
	}
	if cfg.AdvertisePort == 0 {
		cfg.AdvertisePort = cfg.BindPort
	}
	return nil
}

// memberlistConfig builds memberlist's configuration. cfg must be validated.
func (cfg *Config) memberlistConfig() (*memberlist.Config, error) {
	mc := memberlist.DefaultLANConfig()
	mc.Name = cfg.Name
	mc.BindAddr = cfg.BindAddr
	mc.BindPort = cfg.BindPort
	mc.AdvertiseAddr = cfg.AdvertiseAddr
	mc.AdvertisePort = cfg.AdvertisePort
	mc.Logger = newMemberlistLogger(cfg.Logger)
	if cfg.Transport != nil {
		mc.Transport = cfg.Transport
	}
	cfg.detector().apply(mc)
	if cfg.PushPullInterval > 0 {
		mc.PushPullInterval = cfg.PushPullInterval
	}
	// A failed node's name may be taken over from a new address (a replaced
	// machine, or one whose IP changed) once it has been dead for a few
	// probe rounds, instead of only after memberlist forgets it
	// (GossipToTheDeadTime).
	mc.DeadNodeReclaimTime = 5 * mc.ProbeInterval

	if !cfg.Insecure {
		kr, err := memberlist.NewKeyring(cfg.Keys, cfg.Keys[0])
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
		}
		mc.Keyring = kr
		mc.GossipVerifyIncoming = true
		mc.GossipVerifyOutgoing = true
	}
	return mc, nil
}
