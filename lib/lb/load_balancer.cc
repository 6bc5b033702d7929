// Replaced by the load balancers.
