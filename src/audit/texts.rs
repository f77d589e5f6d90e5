//! The fixed text of every finding: its rule's title, why it matters, the fix, and the
//! guide it comes from (the seed file and its title). The rules add the detail.

use serde::{Serialize, Serializer};

/// The guides in `shared/seeds/`, by file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seed {
    /// Connect to SageMaker Within your VPC.
    S000,
    /// Connect to SageMaker Studio Through an Interface VPC Endpoint.
    S001,
    /// Give SageMaker Processing Jobs Access to Resources in Your Amazon VPC.
    S002,
    /// Connect SageMaker Studio Notebooks in a VPC to External Resources.
    S004,
}

impl Seed {
    pub fn file(self) -> &'static str {
        match self {
            Seed::S000 => "000_41234f0732acb64e.txt",
            Seed::S001 => "001_be798cc3f61ed8a9.txt",
            Seed::S002 => "002_4983354a631e50dd.txt",
            Seed::S004 => "004_20270b7747dce864.txt",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Seed::S000 => "Connect to SageMaker Within your VPC",
            Seed::S001 => "Connect to SageMaker Studio Through an Interface VPC Endpoint",
            Seed::S002 => "Give SageMaker Processing Jobs Access to Resources in Your Amazon VPC",
            Seed::S004 => "Connect SageMaker Studio Notebooks in a VPC to External Resources",
        }
    }
}

/// The headings findings are grouped under, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    Dns,
    InterfaceEndpoints,
    S3,
    SecurityGroups,
    Studio,
    Placement,
}

impl Group {
    pub fn heading(self) -> &'static str {
        match self {
            Group::Dns => "VPC DNS",
            Group::InterfaceEndpoints => "Interface endpoints",
            Group::S3 => "Amazon S3",
            Group::SecurityGroups => "Security groups",
            Group::Studio => "Studio domains",
            Group::Placement => "Endpoint placement",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuleId {
    DnsAttributes,
    EndpointPresent,
    EndpointPrivateDns,
    EndpointClientAzs,
    S3Endpoint,
    S3Repositories,
    EndpointAdmitsClients,
    ClientsAdmitThemselves,
    ClientsReachEfs,
    DomainPrivateSubnets,
    DomainCapacity,
    DomainSharedGroup,
    ServiceOffered,
    DuplicateEndpoints,
}

/// Every rule, in report order.
pub const ALL: &[RuleId] = &[
    RuleId::DnsAttributes,
    RuleId::EndpointPresent,
    RuleId::EndpointPrivateDns,
    RuleId::EndpointClientAzs,
    RuleId::S3Endpoint,
    RuleId::S3Repositories,
    RuleId::EndpointAdmitsClients,
    RuleId::ClientsAdmitThemselves,
    RuleId::ClientsReachEfs,
    RuleId::DomainPrivateSubnets,
    RuleId::DomainCapacity,
    RuleId::DomainSharedGroup,
    RuleId::ServiceOffered,
    RuleId::DuplicateEndpoints,
];

/// A rule's fixed text.
#[derive(Debug, Clone, Copy)]
pub struct Text {
    pub id: &'static str,
    pub group: Group,
    pub title: &'static str,
    pub why: &'static str,
    pub fix: &'static str,
    pub seed: Seed,
    /// The part of the guide, as it is headed there.
    pub section: &'static str,
}

impl Serialize for RuleId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.text().id)
    }
}

impl RuleId {
    pub fn text(self) -> Text {
        use Group::*;
        use RuleId::*;
        let t = |id, group, title, why, fix, seed, section| Text {
            id,
            group,
            title,
            why,
            fix,
            seed,
            section,
        };
        match self {
            DnsAttributes => t(
                "dns.attributes",
                Dns,
                "enableDnsSupport and enableDnsHostnames are on",
                "an interface endpoint's private DNS name resolves only in a VPC with both DNS attributes on: otherwise api.sagemaker.<region>.amazonaws.com keeps resolving to the public endpoint, which a private subnet cannot reach",
                "aws ec2 modify-vpc-attribute --vpc-id <vpc> --enable-dns-support; then --enable-dns-hostnames (one attribute per call)",
                Seed::S000,
                "Connect to SageMaker through a VPC interface endpoint",
            ),
            EndpointPresent => t(
                "endpoint.present",
                InterfaceEndpoints,
                "an interface endpoint for the service",
                "without internet access (VpcOnly, private subnets) SageMaker's clients reach the service only through an interface endpoint",
                "create an interface endpoint for the service in the clients' subnets, with a group that admits 443 from them, private DNS on",
                Seed::S004,
                "Requirements to use VPC only mode, 5",
            ),
            EndpointPrivateDns => t(
                "endpoint.private_dns",
                InterfaceEndpoints,
                "the endpoint has private DNS on",
                "with private DNS off the SDK's default hostname still resolves to the public endpoint: every client would have to pass --endpoint-url",
                "aws ec2 modify-vpc-endpoint --vpc-endpoint-id <id> --private-dns-enabled",
                Seed::S000,
                "Connect to SageMaker through a VPC interface endpoint",
            ),
            EndpointClientAzs => t(
                "endpoint.client_azs",
                InterfaceEndpoints,
                "the endpoint is in every availability zone where clients run",
                "private DNS resolution of the endpoint works only in the AZs it has a subnet in: clients elsewhere see DNS failures (the guide says so of SageMaker Runtime)",
                "aws ec2 modify-vpc-endpoint --vpc-endpoint-id <id> --add-subnet-ids <a subnet in each missing AZ>",
                Seed::S000,
                "Connect to SageMaker through a VPC interface endpoint",
            ),
            S3Endpoint => t(
                "s3.endpoint",
                S3,
                "an S3 endpoint serves the clients' subnets",
                "containers without internet access cannot reach the buckets with their data unless a VPC endpoint for S3 serves their subnets: a gateway endpoint on their route tables, or an interface endpoint",
                "create a gateway endpoint for com.amazonaws.<region>.s3 on the clients' route tables (or add the missing ones with aws ec2 modify-vpc-endpoint --add-route-table-ids)",
                Seed::S002,
                "Create an Amazon S3 VPC Endpoint",
            ),
            S3Repositories => t(
                "s3.repositories",
                S3,
                "the S3 endpoint's policy denies the Amazon Linux repositories",
                "a policy that allows them lets anyone in the VPC install packages from the Amazon Linux (packages.*, repo.*), Amazon Linux 2 (amazonlinux.*, amazonlinux-2-repos-*) and Amazon Linux 2023 (al2023-repos-*) repository buckets; the guide's example misses the last two",
                "deny s3:GetObject on arn:aws:s3:::packages.*.amazonaws.com/*, repo.*.amazonaws.com/*, amazonlinux.*.amazonaws.com/*, amazonlinux-2-repos-*/* and al2023-repos-*/* in the endpoint policy (plans/policies/s3-deny-amazon-linux-repos.json)",
                Seed::S002,
                "Restrict Package Installation on the Processing Container",
            ),
            EndpointAdmitsClients => t(
                "groups.endpoint_admits_clients",
                SecurityGroups,
                "the endpoint's security groups admit 443 from the client groups",
                "an interface endpoint answers on TCP 443; a client whose group its groups do not admit (by group or by a CIDR holding the clients' subnets) times out",
                "aws ec2 authorize-security-group-ingress --group-id <endpoint group> --protocol tcp --port 443 --source-group <client group>",
                Seed::S004,
                "Requirements to use VPC only mode, 5",
            ),
            ClientsAdmitThemselves => t(
                "groups.clients_admit_themselves",
                SecurityGroups,
                "the client group admits itself",
                "distributed training and processing containers talk to each other through their shared group; Studio's apps (JupyterServer, KernelGateway) on TCP 8192-65535",
                "aws ec2 authorize-security-group-ingress --group-id <group> --protocol all --source-group <group> (Studio: --protocol tcp --port 8192-65535)",
                Seed::S002,
                "Configure the VPC Security Group",
            ),
            ClientsReachEfs => t(
                "groups.clients_reach_efs",
                SecurityGroups,
                "the client group may reach the domain's EFS volume on 2049",
                "Studio keeps every user's home directory on the domain's EFS volume, over NFS (TCP 2049); egress without it leaves apps without their files",
                "aws ec2 authorize-security-group-egress --group-id <group> --ip-permissions IpProtocol=tcp,FromPort=2049,ToPort=2049,IpRanges=[{CidrIp=<VPC CIDR>}]",
                Seed::S004,
                "Requirements to use VPC only mode, 3",
            ),
            DomainPrivateSubnets => t(
                "domain.private_subnets",
                Studio,
                "a VpcOnly domain's subnets are private",
                "VpcOnly mode requires private subnets: a subnet whose route table sends traffic to an internet gateway is public, and SageMaker does not support it",
                "give the domain private subnets (aws sagemaker update-domain --subnet-ids, re-sending the VPC), or remove the internet gateway route from their route table",
                Seed::S004,
                "Requirements to use VPC only mode, 1",
            ),
            DomainCapacity => t(
                "domain.capacity",
                Studio,
                "the domain's subnets have 2-4 free addresses per user",
                "every user's apps take addresses in the domain's subnets (the guide recommends 2 to 4 per user); when they run out, apps fail to start",
                "add subnets to the domain (in more AZs), use larger ones, or move users to another domain",
                Seed::S004,
                "Requirements to use VPC only mode, 2",
            ),
            DomainSharedGroup => t(
                "domain.shared_group",
                Studio,
                "no domain-level group admits itself while user profiles exist",
                "a domain-level group that allows inbound access to itself lets every app in the domain reach every other user's apps without authentication",
                "give each user profile a security group of its own that admits itself (aws sagemaker update-user-profile --user-settings SecurityGroups=...), and remove the self rule from the domain-level group",
                Seed::S004,
                "Requirements to use VPC only mode, 3",
            ),
            ServiceOffered => t(
                "placement.service_offered",
                Placement,
                "the endpoint's service is offered in each of its subnets' AZs",
                "an endpoint service is offered in some availability zones only; an endpoint cannot have a network interface in an AZ its service lacks, so clients there have none",
                "move the endpoint to subnets in AZs that aws ec2 describe-vpc-endpoint-services lists for the service",
                Seed::S000,
                "Connect to SageMaker through a VPC interface endpoint",
            ),
            DuplicateEndpoints => t(
                "placement.duplicate_endpoints",
                Placement,
                "one endpoint per service",
                "only one endpoint per service can hold the service's private DNS name in a VPC; a second one costs per hour and per AZ, and its clients get whichever name resolution wins",
                "delete all but one endpoint for the service (aws ec2 delete-vpc-endpoints), after moving its subnets to the one kept",
                Seed::S000,
                "Connect to SageMaker through a VPC interface endpoint",
            ),
        }
    }
}
