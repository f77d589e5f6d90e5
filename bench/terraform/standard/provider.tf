# Provider and variables shared by the Terraform peer configurations (bench/tf_peer.py).
# Every AWS service endpoint of hashicorp/aws 5.100.0 (the 255 services of its `endpoints`
# block; of each group of aliases only the first: the provider warns when several are set)
# points at var.endpoint: the throttling proxy (bench/throttleproxy.py) in front of a
# private LocalStack. Nothing reaches real AWS.
# bench/tf_large.py copies this file next to the generated large configuration.

terraform {
  required_version = ">= 1.11"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0" # the one in /opt/tf-plugins (terraform init -plugin-dir=/opt/tf-plugins)
    }
  }
}

variable "endpoint" {
  description = "URL every AWS service is sent to (the proxy), e.g. http://127.0.0.1:4620"
  type        = string
  default     = "http://127.0.0.1:4566"
}

variable "name" {
  description = "Plan name: the sagevpc:plan tag and the Name/group-name prefix (unique per run)"
  type        = string
  default     = "tf-ml-platform"
}

variable "policy_file" {
  description = "S3 gateway endpoint policy (default: plans/policies/s3-deny-amazon-linux-repos.json of this repo)"
  type        = string
  default     = null
}

provider "aws" {
  region     = "us-east-1"
  access_key = "test"
  secret_key = "test"

  skip_credentials_validation = true # no credential check against STS at start-up
  skip_metadata_api_check     = true # no IMDS (169.254.169.254)
  # skip_requesting_account_id stays false: with it true the provider does not know the
  # account and reports every same-account rule reference as "000000000000/sg-..." (not
  # "sg-..."), so a no-op plan would show every group-referencing rule as changed - on AWS
  # as well as here. The price is one sts:GetCallerIdentity per run (not EC2, unthrottled).
  skip_requesting_account_id = false
  skip_region_validation     = true
  s3_use_path_style          = true # LocalStack: http://host:port/bucket, no virtual-host DNS
  # max_retries (25), retry_mode (standard) and token_bucket_rate_limiter_capacity are left
  # at the provider's defaults: the comparison is with Terraform as users run it.

  endpoints {
    accessanalyzer               = var.endpoint
    account                      = var.endpoint
    acm                          = var.endpoint
    acmpca                       = var.endpoint
    amp                          = var.endpoint
    amplify                      = var.endpoint
    apigateway                   = var.endpoint
    apigatewayv2                 = var.endpoint
    appautoscaling               = var.endpoint
    appconfig                    = var.endpoint
    appfabric                    = var.endpoint
    appflow                      = var.endpoint
    appintegrations              = var.endpoint
    applicationinsights          = var.endpoint
    applicationsignals           = var.endpoint
    appmesh                      = var.endpoint
    apprunner                    = var.endpoint
    appstream                    = var.endpoint
    appsync                      = var.endpoint
    athena                       = var.endpoint
    auditmanager                 = var.endpoint
    autoscaling                  = var.endpoint
    autoscalingplans             = var.endpoint
    backup                       = var.endpoint
    batch                        = var.endpoint
    bcmdataexports               = var.endpoint
    bedrock                      = var.endpoint
    bedrockagent                 = var.endpoint
    billing                      = var.endpoint
    budgets                      = var.endpoint
    ce                           = var.endpoint
    chatbot                      = var.endpoint
    chime                        = var.endpoint
    chimesdkmediapipelines       = var.endpoint
    chimesdkvoice                = var.endpoint
    cleanrooms                   = var.endpoint
    cloud9                       = var.endpoint
    cloudcontrol                 = var.endpoint
    cloudformation               = var.endpoint
    cloudfront                   = var.endpoint
    cloudfrontkeyvaluestore      = var.endpoint
    cloudhsmv2                   = var.endpoint
    cloudsearch                  = var.endpoint
    cloudtrail                   = var.endpoint
    cloudwatch                   = var.endpoint
    codeartifact                 = var.endpoint
    codebuild                    = var.endpoint
    codecatalyst                 = var.endpoint
    codecommit                   = var.endpoint
    codeconnections              = var.endpoint
    codeguruprofiler             = var.endpoint
    codegurureviewer             = var.endpoint
    codepipeline                 = var.endpoint
    codestarconnections          = var.endpoint
    codestarnotifications        = var.endpoint
    cognitoidentity              = var.endpoint
    cognitoidp                   = var.endpoint
    comprehend                   = var.endpoint
    computeoptimizer             = var.endpoint
    configservice                = var.endpoint
    connect                      = var.endpoint
    connectcases                 = var.endpoint
    controltower                 = var.endpoint
    costoptimizationhub          = var.endpoint
    cur                          = var.endpoint
    customerprofiles             = var.endpoint
    databrew                     = var.endpoint
    dataexchange                 = var.endpoint
    datapipeline                 = var.endpoint
    datasync                     = var.endpoint
    datazone                     = var.endpoint
    dax                          = var.endpoint
    deploy                       = var.endpoint
    detective                    = var.endpoint
    devicefarm                   = var.endpoint
    devopsguru                   = var.endpoint
    directconnect                = var.endpoint
    dlm                          = var.endpoint
    dms                          = var.endpoint
    docdb                        = var.endpoint
    docdbelastic                 = var.endpoint
    drs                          = var.endpoint
    ds                           = var.endpoint
    dsql                         = var.endpoint
    dynamodb                     = var.endpoint
    ec2                          = var.endpoint
    ecr                          = var.endpoint
    ecrpublic                    = var.endpoint
    ecs                          = var.endpoint
    efs                          = var.endpoint
    eks                          = var.endpoint
    elasticache                  = var.endpoint
    elasticbeanstalk             = var.endpoint
    elasticsearch                = var.endpoint
    elastictranscoder            = var.endpoint
    elb                          = var.endpoint
    elbv2                        = var.endpoint
    emr                          = var.endpoint
    emrcontainers                = var.endpoint
    emrserverless                = var.endpoint
    events                       = var.endpoint
    evidently                    = var.endpoint
    evs                          = var.endpoint
    finspace                     = var.endpoint
    firehose                     = var.endpoint
    fis                          = var.endpoint
    fms                          = var.endpoint
    fsx                          = var.endpoint
    gamelift                     = var.endpoint
    glacier                      = var.endpoint
    globalaccelerator            = var.endpoint
    glue                         = var.endpoint
    grafana                      = var.endpoint
    greengrass                   = var.endpoint
    groundstation                = var.endpoint
    guardduty                    = var.endpoint
    healthlake                   = var.endpoint
    iam                          = var.endpoint
    identitystore                = var.endpoint
    imagebuilder                 = var.endpoint
    inspector                    = var.endpoint
    inspector2                   = var.endpoint
    internetmonitor              = var.endpoint
    invoicing                    = var.endpoint
    iot                          = var.endpoint
    iotanalytics                 = var.endpoint
    iotevents                    = var.endpoint
    ivs                          = var.endpoint
    ivschat                      = var.endpoint
    kafka                        = var.endpoint
    kafkaconnect                 = var.endpoint
    kendra                       = var.endpoint
    keyspaces                    = var.endpoint
    kinesis                      = var.endpoint
    kinesisanalytics             = var.endpoint
    kinesisanalyticsv2           = var.endpoint
    kinesisvideo                 = var.endpoint
    kms                          = var.endpoint
    lakeformation                = var.endpoint
    lambda                       = var.endpoint
    launchwizard                 = var.endpoint
    lexmodels                    = var.endpoint
    lexv2models                  = var.endpoint
    licensemanager               = var.endpoint
    lightsail                    = var.endpoint
    location                     = var.endpoint
    logs                         = var.endpoint
    lookoutmetrics               = var.endpoint
    m2                           = var.endpoint
    macie2                       = var.endpoint
    mediaconnect                 = var.endpoint
    mediaconvert                 = var.endpoint
    medialive                    = var.endpoint
    mediapackage                 = var.endpoint
    mediapackagev2               = var.endpoint
    mediapackagevod              = var.endpoint
    mediastore                   = var.endpoint
    memorydb                     = var.endpoint
    mgn                          = var.endpoint
    mq                           = var.endpoint
    mwaa                         = var.endpoint
    neptune                      = var.endpoint
    neptunegraph                 = var.endpoint
    networkfirewall              = var.endpoint
    networkmanager               = var.endpoint
    networkmonitor               = var.endpoint
    notifications                = var.endpoint
    notificationscontacts        = var.endpoint
    oam                          = var.endpoint
    opensearch                   = var.endpoint
    opensearchserverless         = var.endpoint
    opsworks                     = var.endpoint
    organizations                = var.endpoint
    osis                         = var.endpoint
    outposts                     = var.endpoint
    paymentcryptography          = var.endpoint
    pcaconnectorad               = var.endpoint
    pcs                          = var.endpoint
    pinpoint                     = var.endpoint
    pinpointsmsvoicev2           = var.endpoint
    pipes                        = var.endpoint
    polly                        = var.endpoint
    pricing                      = var.endpoint
    qbusiness                    = var.endpoint
    qldb                         = var.endpoint
    quicksight                   = var.endpoint
    ram                          = var.endpoint
    rbin                         = var.endpoint
    rds                          = var.endpoint
    redshift                     = var.endpoint
    redshiftdata                 = var.endpoint
    redshiftserverless           = var.endpoint
    rekognition                  = var.endpoint
    resiliencehub                = var.endpoint
    resourceexplorer2            = var.endpoint
    resourcegroups               = var.endpoint
    resourcegroupstaggingapi     = var.endpoint
    rolesanywhere                = var.endpoint
    route53                      = var.endpoint
    route53domains               = var.endpoint
    route53profiles              = var.endpoint
    route53recoverycontrolconfig = var.endpoint
    route53recoveryreadiness     = var.endpoint
    route53resolver              = var.endpoint
    rum                          = var.endpoint
    s3                           = var.endpoint
    s3control                    = var.endpoint
    s3outposts                   = var.endpoint
    s3tables                     = var.endpoint
    sagemaker                    = var.endpoint
    scheduler                    = var.endpoint
    schemas                      = var.endpoint
    secretsmanager               = var.endpoint
    securityhub                  = var.endpoint
    securitylake                 = var.endpoint
    serverlessrepo               = var.endpoint
    servicecatalog               = var.endpoint
    servicecatalogappregistry    = var.endpoint
    servicediscovery             = var.endpoint
    servicequotas                = var.endpoint
    ses                          = var.endpoint
    sesv2                        = var.endpoint
    sfn                          = var.endpoint
    shield                       = var.endpoint
    signer                       = var.endpoint
    simpledb                     = var.endpoint
    sns                          = var.endpoint
    sqs                          = var.endpoint
    ssm                          = var.endpoint
    ssmcontacts                  = var.endpoint
    ssmincidents                 = var.endpoint
    ssmquicksetup                = var.endpoint
    ssmsap                       = var.endpoint
    sso                          = var.endpoint
    ssoadmin                     = var.endpoint
    storagegateway               = var.endpoint
    sts                          = var.endpoint
    swf                          = var.endpoint
    synthetics                   = var.endpoint
    taxsettings                  = var.endpoint
    timestreaminfluxdb           = var.endpoint
    timestreamquery              = var.endpoint
    timestreamwrite              = var.endpoint
    transcribe                   = var.endpoint
    transfer                     = var.endpoint
    verifiedpermissions          = var.endpoint
    vpclattice                   = var.endpoint
    waf                          = var.endpoint
    wafregional                  = var.endpoint
    wafv2                        = var.endpoint
    wellarchitected              = var.endpoint
    worklink                     = var.endpoint
    workspaces                   = var.endpoint
    workspacesweb                = var.endpoint
    xray                         = var.endpoint
  }
}
