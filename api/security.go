package api

func init() {
	Register(Resource{Version: "v1", Kind: "Secret", Plural: "secrets", Namespaced: true, New: func() Object { return &Secret{} }})
	Register(Resource{Group: "shoal.dev", Version: "v1", Kind: "Credential", Plural: "credentials", System: true, New: func() Object { return &Credential{} }})
	Register(Resource{Group: "shoal.dev", Version: "v1", Kind: "JoinToken", Plural: "jointokens", System: true, New: func() Object { return &JoinToken{} }})
	Register(Resource{Group: "shoal.dev", Version: "v1", Kind: "ClusterKeys", Plural: "clusterkeys", System: true, New: func() Object { return &ClusterKeys{} }})
}

// Secret holds sensitive data for pods. In the state store, the Raft log
// and snapshots its data is sealed (encrypted); the API returns it opened.
type Secret struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Type       string            `json:"type,omitempty"`
	Immutable  *bool             `json:"immutable,omitempty"`
	Data       map[string][]byte `json:"data,omitempty"`
	StringData map[string]string `json:"stringData,omitempty"`
	// Sealed is Data encrypted with the cluster's sealing key. It exists
	// only inside the cluster; the API never accepts or returns it.
	Sealed []byte `json:"sealed,omitempty"`
}

// Secret types with required keys; any other type string is accepted.
const (
	SecretTypeOpaque           = "Opaque"
	SecretTypeTLS              = "kubernetes.io/tls"
	SecretTypeDockerConfigJSON = "kubernetes.io/dockerconfigjson"
)

// Credential roles, carried in certificates.
const (
	RoleNode     = "shoal:node"
	RoleAdmin    = "shoal:admin"
	RoleReadOnly = "shoal:read-only"
)

// Credential records a certificate the cluster issued: to a node, or to a
// person or program as an API credential. A request is honoured only while
// the credential exists, matches the certificate's serial and is not revoked.
type Credential struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       CredentialSpec `json:"spec"`
}

// CredentialSpec describes one issued certificate.
type CredentialSpec struct {
	Role      string `json:"role"`
	Serial    string `json:"serial"`
	NodeID    string `json:"nodeID,omitempty"`
	NotAfter  *Time  `json:"notAfter,omitempty"`
	Revoked   bool   `json:"revoked,omitempty"`
	RevokedAt *Time  `json:"revokedAt,omitempty"`
}

// JoinToken records a join secret by its hash. The cluster token is named
// "cluster"; one-time tokens have their own names and are spent on use.
type JoinToken struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       JoinTokenSpec `json:"spec"`
}

// JoinTokenSpec describes a join secret.
type JoinTokenSpec struct {
	SecretHash string `json:"secretHash"`
	// Sealed is the token text, sealed, so administrators can print it again.
	Sealed  []byte `json:"sealed,omitempty"`
	OneTime bool   `json:"oneTime,omitempty"`
	UsedBy  string `json:"usedBy,omitempty"`
	UsedAt  *Time  `json:"usedAt,omitempty"`
}

// ClusterKeys holds the gossip key ring, sealed. The first key is primary.
type ClusterKeys struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Sealed     []byte `json:"sealed"`
}
