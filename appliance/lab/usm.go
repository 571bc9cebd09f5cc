package lab

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des" //nolint:gosec // DES is what SNMPv3 USM defines (RFC 3414 §8); offered because real devices use it
	"crypto/md5" //nolint:gosec // HMAC-MD5-96, RFC 3414
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"hash"
	"strings"
	"sync"

	"github.com/watchfloor/watchfloor/collectors/snmp"
)

// The authoritative side of the SNMPv3 User-based Security Model (RFC 3414, RFC 3826 for
// AES, RFC 7860 for the SHA-2 HMACs): key localisation, digests, privacy.

// Security levels as msgFlags bits.
const (
	flagAuth       = 0x01
	flagPriv       = 0x02
	flagReportable = 0x04
)

// usmStats OIDs (RFC 3414 §5), sent in Report PDUs.
var (
	oidUnsupportedSecLevels = mustOID(".1.3.6.1.6.3.15.1.1.1.0")
	oidNotInTimeWindows     = mustOID(".1.3.6.1.6.3.15.1.1.2.0")
	oidUnknownUserNames     = mustOID(".1.3.6.1.6.3.15.1.1.3.0")
	oidUnknownEngineIDs     = mustOID(".1.3.6.1.6.3.15.1.1.4.0")
	oidWrongDigests         = mustOID(".1.3.6.1.6.3.15.1.1.5.0")
	oidDecryptionErrors     = mustOID(".1.3.6.1.6.3.15.1.1.6.0")
	oidUnknownContexts      = mustOID(".1.3.6.1.6.3.12.1.5.0") // SNMP-TARGET-MIB snmpUnknownContexts
)

// timeWindow is the USM time window, in seconds (RFC 3414 §3.2 step 7).
const timeWindow = 150

type authProto struct {
	name   string
	hash   func() hash.Hash
	macLen int // truncated HMAC length carried in msgAuthenticationParameters
}

var authProtos = map[string]authProto{
	"MD5":     {"MD5", md5.New, 12},
	"SHA":     {"SHA", sha1.New, 12},
	"SHA-224": {"SHA-224", sha256.New224, 16},
	"SHA-256": {"SHA-256", sha256.New, 24},
	"SHA-384": {"SHA-384", sha512.New384, 32},
	"SHA-512": {"SHA-512", sha512.New, 48},
}

func lookupAuth(name string) (authProto, bool) {
	n := strings.ToUpper(name)
	switch n {
	case "SHA1", "SHA-1":
		n = "SHA"
	case "SHA224", "SHA256", "SHA384", "SHA512":
		n = n[:3] + "-" + n[3:]
	}
	p, ok := authProtos[n]
	return p, ok
}

type privProto uint8

const (
	privNone privProto = iota
	privDES
	privAES
)

func lookupPriv(name string) (privProto, bool) {
	switch strings.ToUpper(name) {
	case "DES":
		return privDES, true
	case "AES", "AES-128", "AES128":
		return privAES, true
	}
	return privNone, false
}

// usmUser is one user of an agent with keys localised to the agent's engine ID.
type usmUser struct {
	name      string
	nameBytes []byte
	level     byte // flagAuth|flagPriv bits the user is configured for
	auth      authProto
	authKey   []byte
	priv      privProto
	aes       cipher.Block
	des       cipher.Block
	desIV     [8]byte // the pre-IV, the second half of the localised DES key
}

// newUser localises the credentials' passphrases to engineID. Only AES-128 and DES are
// offered for privacy; other protocols are refused.
func newUser(c snmp.Credentials, engineID []byte) (*usmUser, error) {
	u := &usmUser{name: c.Username, nameBytes: []byte(c.Username)}
	if c.AuthPassphrase == "" {
		return u, nil
	}
	ap, ok := lookupAuth(c.AuthProtocol)
	if !ok {
		return nil, fmt.Errorf("lab: user %s: unsupported auth protocol %q", c.Username, c.AuthProtocol)
	}
	u.level, u.auth = flagAuth, ap
	u.authKey = localizeKey(ap.hash, c.AuthPassphrase.Reveal(), engineID)
	if c.PrivPassphrase == "" {
		return u, nil
	}
	pp, ok := lookupPriv(c.PrivProtocol)
	if !ok {
		return nil, fmt.Errorf("lab: user %s: unsupported privacy protocol %q (AES or DES)", c.Username, c.PrivProtocol)
	}
	u.level |= flagPriv
	u.priv = pp
	key := localizeKey(ap.hash, c.PrivPassphrase.Reveal(), engineID)
	var err error
	switch pp {
	case privAES:
		u.aes, err = aes.NewCipher(key[:16])
	case privDES:
		u.des, err = des.NewCipher(key[:8]) //nolint:gosec
		copy(u.desIV[:], key[8:16])
	}
	return u, err
}

// Ku depends only on the hash and the passphrase and costs a megabyte of hashing, so it is
// computed once per process; localisation to each engine ID is cheap.
var (
	kuMu    sync.Mutex
	kuCache = map[string][]byte{}
)

// localizeKey is RFC 3414 §A.2: Ku = H(passphrase repeated to 1 MiB), Kul = H(Ku‖engineID‖Ku).
func localizeKey(newHash func() hash.Hash, passphrase string, engineID []byte) []byte {
	h := newHash()
	cacheKey := fmt.Sprintf("%d/%T/%s", h.Size(), h, passphrase)
	kuMu.Lock()
	ku, ok := kuCache[cacheKey]
	if !ok {
		var buf [64]byte
		pi := 0
		for count := 0; count < 1<<20; count += len(buf) {
			for i := range buf {
				buf[i] = passphrase[pi]
				if pi++; pi == len(passphrase) {
					pi = 0
				}
			}
			h.Write(buf[:])
		}
		ku = h.Sum(nil)
		kuCache[cacheKey] = ku
	}
	kuMu.Unlock()
	h.Reset()
	h.Write(ku)
	h.Write(engineID)
	h.Write(ku)
	return h.Sum(nil)
}

// scratch holds a worker's cipher and digest buffers: slices handed to a cipher.Block or
// a hash.Hash escape, so they live in the (long-lived) worker instead of on each call's stack.
type scratch struct {
	iv  [16]byte
	ks  [16]byte
	sum [64]byte
	got [64]byte
}

// digest computes the truncated HMAC of msg into out (len macLen). mac is a reusable
// HMAC for this user.
func digest(mac hash.Hash, msg []byte, out []byte, sc *scratch) {
	mac.Reset()
	mac.Write(msg)
	copy(out, mac.Sum(sc.sum[:0]))
}

// cfb128 en- or decrypts in place with AES in CFB-128 mode (RFC 3826), from the IV in sc.iv.
func cfb128(block cipher.Block, sc *scratch, data []byte, decrypt bool) {
	iv, ks := sc.iv[:], sc.ks[:]
	for len(data) > 0 {
		block.Encrypt(ks, iv)
		n := min(16, len(data))
		for i := range n {
			c := data[i]
			data[i] ^= ks[i]
			if decrypt {
				iv[i] = c
			} else {
				iv[i] = data[i]
			}
		}
		data = data[n:]
	}
}

// cbcDES en- or decrypts in place with DES-CBC from the IV in sc.iv[:8]; len(data) must be
// a multiple of 8.
func cbcDES(block cipher.Block, sc *scratch, data []byte, decrypt bool) {
	iv, tmp := sc.iv[:8], sc.ks[:8]
	for ; len(data) >= 8; data = data[8:] {
		if decrypt {
			copy(tmp, data[:8])
			block.Decrypt(data[:8], data[:8])
			for i := range 8 {
				data[i] ^= iv[i]
			}
			copy(iv, tmp)
		} else {
			for i := range 8 {
				data[i] ^= iv[i]
			}
			block.Encrypt(data[:8], data[:8])
			copy(iv, data[:8])
		}
	}
}

// aesIV sets sc.iv to boots‖time‖salt (RFC 3826 §3.1.2.1).
func (sc *scratch) aesIV(boots, engineTime uint32, salt []byte) {
	binary.BigEndian.PutUint32(sc.iv[0:], boots)
	binary.BigEndian.PutUint32(sc.iv[4:], engineTime)
	copy(sc.iv[8:], salt)
}

// desIV sets sc.iv[:8] to the pre-IV XOR the salt (RFC 3414 §8.1.1.1).
func (sc *scratch) desIV(preIV *[8]byte, salt []byte) {
	for i := range 8 {
		sc.iv[i] = preIV[i] ^ salt[i]
	}
}
