// Stylesheets imported by @grafana/ui: a bundler injects them; jest has nothing to do with them.
export default {};
