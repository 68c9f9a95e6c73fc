//! moto's S3 server (from PyPI; `scripts/test` installs it), started on a loopback port
//! by the tests that need an S3-compatible bucket.

use std::time::Duration;

/// moto's S3 server on a loopback port, stopped when dropped.
pub struct Moto {
    child: std::process::Child,
    /// Its address, `http://127.0.0.1:<port>`.
    pub url: String,
}

impl Moto {
    /// Starts one (`SEXTANT_TEST_PYTHON`'s moto).
    pub fn start() -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let python = std::env::var("SEXTANT_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let child = std::process::Command::new(python)
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("moto's server (pip install 'moto[server]'; scripts/test installs it)");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "moto's server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto { child, url: format!("http://127.0.0.1:{port}") }
    }

    /// Makes a bucket.
    pub async fn make_bucket(&self, bucket: &str) {
        let r = reqwest::Client::new().put(format!("{}/{bucket}", self.url)).send().await.unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }

    /// A client of `bucket`, as a reader of the pipeline's files would have.
    pub fn client(&self, bucket: &str) -> object_store::aws::AmazonS3 {
        object_store::aws::AmazonS3Builder::new()
            .with_endpoint(&self.url)
            .with_allow_http(true)
            .with_bucket_name(bucket)
            .with_region("us-east-1")
            .with_access_key_id("AKIDREADER")
            .with_secret_access_key("reader")
            .build()
            .unwrap()
    }

    /// Writes an object.
    pub async fn put(&self, bucket: &str, key: &str, bytes: Vec<u8>) {
        use object_store::ObjectStore as _;
        self.client(bucket).put(&key.into(), bytes.into()).await.unwrap();
    }

    /// An object's bytes, `None` when there is none.
    pub async fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        use object_store::ObjectStore as _;
        match self.client(bucket).get(&key.into()).await {
            Ok(got) => Some(got.bytes().await.unwrap().to_vec()),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => panic!("{key}: {e}"),
        }
    }

    /// Every key in the bucket.
    pub async fn keys(&self, bucket: &str) -> Vec<String> {
        use futures::TryStreamExt as _;
        use object_store::ObjectStore as _;
        let listed: Vec<_> = self.client(bucket).list(None).try_collect().await.unwrap();
        listed.into_iter().map(|o| o.location.to_string()).collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
