//! moto's server (SageMaker and EFS, which LocalStack's community edition lacks) for
//! the integration tests, and an IAM client for LocalStack.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::repo_root;

/// moto's server on a free loopback port, from LocalStack's venv (`localstack/install.sh`),
/// through `tests/moto/moto_server.py` (which fixes moto's SageMaker timestamps).
pub struct Moto {
    child: Child,
    pub url: String,
}

impl Moto {
    pub fn start() -> Moto {
        Moto::start_with(&[])
    }

    /// moto whose domains make their NFS groups in LocalStack's EC2, as SageMaker does.
    pub fn with_nfs_groups() -> Moto {
        Moto::start_with(&[("SAGEVPC_MOTO_EC2", "http://127.0.0.1:4566")])
    }

    pub fn start_with(env: &[(&str, &str)]) -> Moto {
        let python = repo_root().join("localstack/.venv/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run ./localstack/install.sh",
            python.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(python)
            .arg(repo_root().join("tests/moto/moto_server.py"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto.server");
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto.server did not start on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    pub async fn client(&self) -> aws_sdk_sagemaker::Client {
        aws_sdk_sagemaker::Client::new(&self.config().await)
    }

    pub async fn config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&self.url)
            .credentials_provider(aws_sdk_sagemaker::config::Credentials::new(
                "test",
                "test",
                None,
                None,
                "sagevpc-it",
            ))
            .load()
            .await
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An IAM client for LocalStack.
pub async fn iam() -> aws_sdk_iam::Client {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url("http://127.0.0.1:4566")
        .credentials_provider(aws_sdk_iam::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "sagevpc-it",
        ))
        .load()
        .await;
    aws_sdk_iam::Client::new(&conf)
}
