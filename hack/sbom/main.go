// Command sbom writes an SPDX 2.3 JSON software bill of materials for one
// of the product's images from the Go build information its binary carries
// (debug/buildinfo): the image, the main module, the Go toolchain and
// every module linked in, each with its version and purl. The images hold
// nothing but that one static binary (docs/images.md), so this is all they
// contain.
//
//	go run ./hack/sbom -image ghcr.io/sprechzimmer/manager:v0.2.0 -digest sha256:… \
//	    -bin bin/build/linux_amd64/manager -o dist/sbom/manager.spdx.json
//
// The document's creation time is $SOURCE_DATE_EPOCH (else 0), so the
// same build gives the same file.
package main

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

func main() {
	var (
		image  = flag.String("image", "", "The image reference, with its tag (required).")
		digest = flag.String("digest", "", "The image index's digest, sha256:… (required).")
		bin    = flag.String("bin", "", "The image's binary (required).")
		out    = flag.String("o", "", "Output file (required).")
	)
	flag.Parse()
	if *image == "" || *digest == "" || *bin == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "sbom: -image, -digest, -bin and -o are required")
		os.Exit(2)
	}
	info, err := buildinfo.ReadFile(*bin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sbom: %s: %v\n", *bin, err)
		os.Exit(1)
	}
	epoch, _ := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64)
	doc, err := Document(*image, *digest, info, time.Unix(epoch, 0).UTC())
	if err != nil {
		fmt.Fprintln(os.Stderr, "sbom:", err)
		os.Exit(1)
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		fmt.Fprintln(os.Stderr, "sbom:", err)
		os.Exit(1)
	}
	//nolint:gosec // an SBOM is published: readable by everyone
	if err := os.WriteFile(*out, append(data, '\n'), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "sbom:", err)
		os.Exit(1)
	}
}

// SPDX is the part of an SPDX 2.3 document this program writes.
type SPDX struct {
	SPDXVersion       string         `json:"spdxVersion"`
	DataLicense       string         `json:"dataLicense"`
	SPDXID            string         `json:"SPDXID"`
	Name              string         `json:"name"`
	DocumentNamespace string         `json:"documentNamespace"`
	CreationInfo      CreationInfo   `json:"creationInfo"`
	DocumentDescribes []string       `json:"documentDescribes"`
	Packages          []Package      `json:"packages"`
	Relationships     []Relationship `json:"relationships"`
}

// CreationInfo says who made the document and when.
type CreationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

// Package is an SPDX package: the image, a module or the toolchain.
type Package struct {
	Name             string        `json:"name"`
	SPDXID           string        `json:"SPDXID"`
	VersionInfo      string        `json:"versionInfo,omitempty"`
	Supplier         string        `json:"supplier,omitempty"`
	DownloadLocation string        `json:"downloadLocation"`
	FilesAnalyzed    bool          `json:"filesAnalyzed"`
	LicenseConcluded string        `json:"licenseConcluded"`
	LicenseDeclared  string        `json:"licenseDeclared"`
	CopyrightText    string        `json:"copyrightText"`
	PrimaryPurpose   string        `json:"primaryPackagePurpose,omitempty"`
	Checksums        []Checksum    `json:"checksums,omitempty"`
	ExternalRefs     []ExternalRef `json:"externalRefs,omitempty"`
}

// Checksum of a package.
type Checksum struct {
	Algorithm     string `json:"algorithm"`
	ChecksumValue string `json:"checksumValue"`
}

// ExternalRef is a package's purl.
type ExternalRef struct {
	Category string `json:"referenceCategory"`
	Type     string `json:"referenceType"`
	Locator  string `json:"referenceLocator"`
}

// Relationship links two SPDX elements.
type Relationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

const noAssertion = "NOASSERTION"

// Document describes the image ref (repository:tag) with index digest,
// whose only file is the binary with build info info.
func Document(ref, digest string, info *debug.BuildInfo, created time.Time) (*SPDX, error) {
	colon := strings.LastIndex(ref, ":")
	if colon < 0 || strings.Contains(ref[colon:], "/") {
		return nil, fmt.Errorf("image %q has no tag", ref)
	}
	repo, tag := ref[:colon], ref[colon+1:]
	algo, hexDigest, ok := strings.Cut(digest, ":")
	if !ok || algo != "sha256" || len(hexDigest) != 64 {
		return nil, fmt.Errorf("digest %q is not sha256:<64 hex>", digest)
	}
	name := repo[strings.LastIndex(repo, "/")+1:]
	sum := sha256.Sum256([]byte(ref + "@" + digest))
	doc := &SPDX{
		SPDXVersion:       "SPDX-2.3",
		DataLicense:       "CC0-1.0",
		SPDXID:            "SPDXRef-DOCUMENT",
		Name:              name + "-" + tag,
		DocumentNamespace: "https://sprechzimmer.dev/spdx/" + name + "-" + tag + "-" + hex.EncodeToString(sum[:8]),
		CreationInfo: CreationInfo{
			Created:  created.Format(time.RFC3339),
			Creators: []string{"Organization: Sprechzimmer", "Tool: sprechzimmer-hack-sbom-" + tag},
		},
		DocumentDescribes: []string{"SPDXRef-Image"},
	}
	doc.Packages = append(doc.Packages, Package{
		Name: name, SPDXID: "SPDXRef-Image", VersionInfo: tag,
		Supplier: "Organization: Sprechzimmer", DownloadLocation: noAssertion,
		LicenseConcluded: noAssertion, LicenseDeclared: "Apache-2.0", CopyrightText: noAssertion,
		PrimaryPurpose: "CONTAINER",
		Checksums:      []Checksum{{Algorithm: "SHA256", ChecksumValue: hexDigest}},
		ExternalRefs: []ExternalRef{{Category: "PACKAGE-MANAGER", Type: "purl",
			Locator: fmt.Sprintf("pkg:oci/%s@%s?repository_url=%s&tag=%s", name, strings.ReplaceAll(digest, ":", "%3A"), repo, tag)}},
	})
	add := func(id, name, version, purl, license string, rel string, from string) {
		doc.Packages = append(doc.Packages, Package{
			Name: name, SPDXID: id, VersionInfo: version, DownloadLocation: noAssertion,
			LicenseConcluded: noAssertion, LicenseDeclared: license, CopyrightText: noAssertion,
			ExternalRefs: []ExternalRef{{Category: "PACKAGE-MANAGER", Type: "purl", Locator: purl}},
		})
		doc.Relationships = append(doc.Relationships, Relationship{Element: from, Type: rel, Related: id})
	}
	doc.Relationships = append(doc.Relationships, Relationship{Element: "SPDXRef-DOCUMENT", Type: "DESCRIBES", Related: "SPDXRef-Image"})
	mod := info.Main
	add("SPDXRef-Main", mod.Path, tag, "pkg:golang/"+mod.Path+"@"+tag, "Apache-2.0", "CONTAINS", "SPDXRef-Image")
	goVersion := strings.TrimPrefix(info.GoVersion, "go")
	add("SPDXRef-Go", "stdlib", info.GoVersion, "pkg:golang/stdlib@"+goVersion, "BSD-3-Clause", "DEPENDS_ON", "SPDXRef-Main")
	for i, m := range info.Deps {
		if m.Replace != nil {
			m = m.Replace
		}
		add(fmt.Sprintf("SPDXRef-Module-%d", i), m.Path, m.Version, "pkg:golang/"+m.Path+"@"+m.Version, noAssertion, "DEPENDS_ON", "SPDXRef-Main")
	}
	return doc, nil
}
