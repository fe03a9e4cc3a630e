//! `depot::http::extract::Params::parse` and its getters against an independent decode of the
//! same bytes: `get` is the first non-empty value, `get_raw` the first value, `all` every
//! non-empty value in order, `boolean` accepts exactly `true`/`false` in any case.
#![no_main]

use depot::http::extract::Params;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let params = Params::parse(data);
    let pairs: Vec<(String, String)> = form_urlencoded::parse(data)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();

    let mut names: Vec<&str> = Vec::new();
    for (k, _) in &pairs {
        if names.len() >= 16 {
            break;
        }
        if !names.contains(&k.as_str()) {
            names.push(k);
        }
    }
    // Names that are usually absent, and the empty name.
    names.extend(["", "PageSize", "Value", "IsPlugin"]);

    for name in names {
        let values = pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let non_empty: Vec<&str> = values.clone().filter(|v| !v.is_empty()).collect();

        assert_eq!(params.get_raw(name), values.clone().next(), "get_raw({name:?})");
        assert_eq!(params.get(name), non_empty.first().copied(), "get({name:?})");
        assert_eq!(params.all(name).collect::<Vec<_>>(), non_empty, "all({name:?})");
        let expected = params.get(name).map(|v| {
            if v.eq_ignore_ascii_case("true") {
                Some(true)
            } else if v.eq_ignore_ascii_case("false") {
                Some(false)
            } else {
                None
            }
        });
        match (params.boolean(name), expected) {
            (Ok(None), None) => {}
            (Ok(Some(b)), Some(Some(e))) => assert_eq!(b, e, "boolean({name:?})"),
            (Err(_), Some(None)) => {}
            (got, want) => panic!("boolean({name:?}): got {got:?}, expected {want:?}"),
        }
    }

    // `required` takes `'static` names: absent or empty is an error, else `get`.
    for name in ["", "PageSize", "Value", "IsPlugin", "a", "A"] {
        match params.required(name) {
            Ok(v) => assert_eq!(Some(v), params.get(name), "required({name:?})"),
            Err(_) => assert!(params.get(name).is_none(), "required({name:?})"),
        }
    }
});
