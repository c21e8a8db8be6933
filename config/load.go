package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxSecretFileBytes bounds a *_file secret; a credential is never this big,
// and reading /dev/zero by mistake must not hang.
const maxSecretFileBytes = 1 << 20

// Load reads the file at path and parses it like Parse. Relative *_file
// paths inside are relative to the working directory, not to the file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &FieldError{Msg: "read config: " + err.Error(), Err: err}
	}
	return Parse(data)
}

// Parse turns YAML into a checked Config. In order it
//
//  1. parses the YAML (a syntax error is "yaml: line N: ...");
//  2. expands ${VAR}, ${VAR:-default} and $$ in scalar values, in the node
//     tree, so that a value with ": " or "#" cannot change the document;
//  3. decodes strictly: an unknown or duplicate key is an error;
//  4. reads the *_file secrets (api_key_file, password_file, token_file);
//  5. applies the defaults and validates.
//
// Every error is a *FieldError naming the field path. Parse reads the
// process environment and the secret files; it is safe for concurrent use.
func Parse(data []byte) (*Config, error) {
	return parse(data, os.LookupEnv)
}

func parse(data []byte, lookup func(string) (string, bool)) (*Config, error) {
	root, err := parseYAML(data)
	if err != nil {
		return nil, err
	}
	c := new(Config)
	if root != nil {
		if err := expandEnv(root, "", lookup); err != nil {
			return nil, err
		}
		if err := decode(root, reflect.ValueOf(c).Elem()); err != nil {
			if fe, ok := err.(*FieldError); ok && fe.Path == "" {
				return nil, under("(root)", err)
			}
			return nil, err
		}
	}
	if err := c.readSecretFiles(); err != nil {
		return nil, err
	}
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// parseYAML returns the single document's top node, or nil when there is no
// document or it is empty.
func parseYAML(data []byte) (root *yaml.Node, err error) {
	defer func() {
		// yaml.v3 is hardened against crafted input, but a config parser
		// must never take the daemon down: a panic here is a syntax error.
		if r := recover(); r != nil {
			root, err = nil, fieldErr("yaml", fmt.Sprintf("cannot parse: %v", r))
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxErr(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, syntaxErr(err)
		}
		return nil, fieldErr("yaml", fmt.Sprintf("line %d: only one document is allowed", extra.Line))
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return nil, nil
	}
	return doc.Content[0], nil
}

func syntaxErr(err error) error {
	return &FieldError{Path: "yaml", Msg: strings.TrimPrefix(err.Error(), "yaml: "), Err: err}
}

// expandEnv expands environment references in every scalar value below n
// (not in keys, and aliases are expanded once, at their anchor). path names
// n for errors.
func expandEnv(n *yaml.Node, path string, lookup func(string) (string, bool)) error {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if err := expandEnv(c, path, lookup); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if err := expandEnv(c, fmt.Sprintf("%s[%d]", path, i), lookup); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := expandEnv(n.Content[i+1], joinPath(path, n.Content[i].Value), lookup); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "$") {
			return nil
		}
		v, err := expand(n.Value, lookup)
		if err != nil {
			return fieldErr(path, err.Error())
		}
		if v != n.Value {
			// The result is text, whatever it looks like: a password of
			// "null" or "~" must not turn into YAML null.
			n.Value, n.Tag, n.Style = v, "!!str", yaml.DoubleQuotedStyle
		}
	}
	return nil
}

// expand replaces ${VAR} with the variable's value and ${VAR:-default} with
// the value, or default when VAR is unset or empty; $$ is a literal $. A
// $ followed by anything else stays as it is. Expanded text is not expanded
// again. An unset variable without a default is an error.
func expand(s string, lookup func(string) (string, bool)) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			i++
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i += 2
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", errors.New("unterminated ${ (write $$ for a literal $)")
			}
			name, def, hasDef := strings.Cut(s[i+2:i+2+end], ":-")
			if !validEnvName(name) {
				return "", fmt.Errorf("invalid environment variable name %q in ${...}", name)
			}
			v, ok := lookup(name)
			switch {
			case hasDef && v == "":
				v = def
			case !ok:
				return "", fmt.Errorf("environment variable %s is not set", name)
			}
			b.WriteString(v)
			i += 2 + end + 1
		default:
			b.WriteByte('$')
			i++
		}
	}
	return b.String(), nil
}

// validEnvName accepts POSIX-style names: [A-Za-z_][A-Za-z0-9_]*.
func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// readSecretFiles moves each *_file secret into its Secret field. Setting
// both the secret and its file is an error. Error messages name the field and
// the file, never the content.
func (c *Config) readSecretFiles() error {
	if err := readSecretFile("kafka.sasl", "password", &c.Kafka.SASL.Password, c.Kafka.SASL.PasswordFile); err != nil {
		return err
	}
	if o := c.Kafka.SASL.OAuthBearer; o != nil {
		if err := readSecretFile("kafka.sasl.oauthbearer", "client_secret", &o.ClientSecret, o.ClientSecretFile); err != nil {
			return err
		}
	}
	for i := range c.Routes {
		s := &c.Routes[i].Sink
		path := fmt.Sprintf("routes[%d].sink", i)
		if es := s.Elasticsearch; es != nil {
			if err := readSecretFile(path, "api_key", &es.APIKey, es.APIKeyFile); err != nil {
				return err
			}
			if err := readSecretFile(path, "password", &es.Password, es.PasswordFile); err != nil {
				return err
			}
		}
		if h := s.SplunkHEC; h != nil {
			if err := readSecretFile(path, "token", &h.Token, h.TokenFile); err != nil {
				return err
			}
		}
	}
	return nil
}

// readSecretFile reads file into *dst, trimming trailing line breaks.
func readSecretFile(parent, key string, dst *Secret, file string) error {
	if file == "" {
		return nil
	}
	path := joinPath(parent, key+"_file")
	if *dst != "" {
		return fieldErr(path, fmt.Sprintf("set only one of %s and %s_file", key, key))
	}
	f, err := os.Open(file)
	if err != nil {
		return &FieldError{Path: path, Msg: "cannot read secret: " + err.Error(), Err: err}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSecretFileBytes+1))
	if err != nil {
		return &FieldError{Path: path, Msg: "cannot read secret: " + err.Error(), Err: err}
	}
	if len(data) > maxSecretFileBytes {
		return fieldErr(path, fmt.Sprintf("%s is larger than %s; not a secret file?", file, ByteSize(maxSecretFileBytes)))
	}
	v := strings.TrimRight(string(data), "\r\n")
	if v == "" {
		return fieldErr(path, file+" is empty")
	}
	*dst = Secret(v)
	return nil
}
