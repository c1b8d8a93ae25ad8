fn main() {
    let sig: signals::Signal<u64> = signals::Signal::new("x");
    let f = sig.asend("a", &1);
    println!("asend future: {} bytes", std::mem::size_of_val(&f));
    let g = sig.asend_robust("a", &1);
    println!("asend_robust future: {} bytes", std::mem::size_of_val(&g));
}
