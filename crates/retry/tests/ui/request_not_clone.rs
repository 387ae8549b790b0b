// A request that is not Clone, behind a retry that copies requests with Clone.
use hardy_retry::Retry;
use tower::{BoxError, Service, ServiceBuilder};

struct Upload;

fn main() {
    let retry = Retry::builder("upload").build().expect("valid");
    let mut service = ServiceBuilder::new()
        .layer(retry.layer())
        .service_fn(|_: Upload| async { Ok::<_, BoxError>(()) });
    let _ = Service::call(&mut service, Upload);
}
