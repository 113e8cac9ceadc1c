"""The MNR Expert Roster web portal: a backend-for-frontend that calls the services with the
signed-in person's own token and keeps nothing but sessions."""
